"""The card grid's shape: the page filled for any count, cards kept legible."""

from __future__ import annotations

import pytest

from dashboards.card_grid import MAX_ROWS_ON_SCREEN, PAGE_ASPECT, grid_shape


@pytest.mark.parametrize(
    ("n", "shape"), [(1, (1, 1)), (2, (2, 1)), (4, (2, 2)), (6, (3, 2)), (9, (5, 2)), (12, (4, 3))]
)
def test_a_few_cards_fill_the_page(n: int, shape: tuple[int, int]) -> None:
    # Regression: four gauges in fixed-width columns used 40 % of a 1080p wall and left the rest empty.
    assert grid_shape(n, 1.2) == shape


@pytest.mark.parametrize("n", range(1, 80))
def test_every_card_has_a_cell_and_a_screen_shows_at_most_four_rows(n: int) -> None:
    cols, rows = grid_shape(n, 1.45)
    assert 1 <= cols <= n and 1 <= rows <= MAX_ROWS_ON_SCREEN
    assert cols * max(rows, -(-n // cols)) >= n
    assert rows == min(-(-n // cols), MAX_ROWS_ON_SCREEN)


def test_the_chosen_columns_give_the_largest_card() -> None:
    def card_width(n: int, cols: int, aspect: float) -> float:
        rows = -(-n // cols)
        return min(PAGE_ASPECT / cols, aspect / rows)

    for n in range(1, 40):
        cols, _ = grid_shape(n, 1.2)
        assert all(card_width(n, cols, 1.2) >= card_width(n, c, 1.2) - 1e-9 for c in range(1, n + 1))


def test_no_cards_is_one_empty_cell() -> None:
    assert grid_shape(0, 1.2) == (1, 1)
