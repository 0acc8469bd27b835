"""A grid of cards that fills its page: as many columns and rows as the count needs, sized to keep cards legible.

The flood and camera pages laid their cards out at a fixed minimum width, so four stations on a 1080p wall used
40 % of the screen and left the rest empty. The shape is chosen from the number of cards and the page's shape:
the columns that make each card as large as it can be while keeping its aspect ratio.
"""

from __future__ import annotations

import math

# The page area under the header on a 16:9 wall (1080p and 4K alike), width over height.
PAGE_ASPECT = 16 / 9 / 0.86
MAX_ROWS_ON_SCREEN = 4  # beyond this the cards become unreadable across the room; the grid scrolls instead


def grid_shape(n: int, card_aspect: float, page_aspect: float = PAGE_ASPECT) -> tuple[int, int]:
    """Return (columns, rows) for ``n`` cards of ``card_aspect`` (width/height) on a page of ``page_aspect``.

    Picks the column count that gives the largest card with every card on the page (a card is scaled to fit its
    cell, keeping its aspect); ties go to fewer columns. The rows returned are those one screen shows: at most
    ``MAX_ROWS_ON_SCREEN``, the rest scroll, so fifty gauges stay readable instead of shrinking to stamps.
    """
    if n <= 0:
        return 1, 1
    best: tuple[float, int] = (-1.0, 1)
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        cell_w, cell_h = page_aspect / cols, 1.0 / rows
        size = min(cell_w, cell_h * card_aspect)  # the card's width once scaled into its cell
        if size > best[0] + 1e-9:
            best = (size, cols)
    cols = best[1]
    return cols, min(math.ceil(n / cols), MAX_ROWS_ON_SCREEN)
