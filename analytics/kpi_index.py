"""The leaders' digital-transformation index as pure arithmetic: attainment, points, index, ranks, improvement.

For a unit and a period, each KPI with a weight above 0 and a target is *scored*:

* attainment ``a`` = value / target when higher is better (target / value when lower is better), clipped to
  0..1, so exceeding the target earns no more than meeting it; a target of 0 (higher is better) is met by any
  value;
* points = weight x a; a scored KPI the unit did not report earns 0 points, unless the KPI says
  ``when_missing: skip`` (a figure computed from events, where none means nothing to judge): then it is left out
  of that unit's scored weights for the period (``dashboards.leaders_data.scoring``);
* index = 100 x (sum of points) / (sum of the scored weights), on 0..100.

Units are ranked by index, highest first; equal indexes (to ``TIE_DECIMALS``) share a rank ("1, 2, 2, 4").
The periods, the figures and the report around these rules are in ``dashboards.leaders_data``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

TIE_DECIMALS = 3
# Changes smaller than this are no change (floating-point noise of averaged figures).
NO_CHANGE = 1e-9


def attainment(value: float, target: float, higher_is_better: bool) -> float:
    """Return how far a value meets its target, 0..1 (1 when met or exceeded)."""
    if higher_is_better:
        if target <= 0:
            return 1.0
        return min(1.0, max(0.0, value / target))
    if value <= target:
        return 1.0
    return min(1.0, max(0.0, target / value)) if value > 0 else 1.0


def points(weight: float, attained: float | None) -> float:
    """Return a scored KPI's points: its weight times its attainment, 0 when it was not reported."""
    return weight * (attained if attained is not None else 0.0)


def index(total_points: float, max_points: float) -> float | None:
    """Return the index on 0..100 from the points earned and the points possible; None when nothing is scored."""
    return 100.0 * total_points / max_points if max_points > 0 else None


def competition_ranks(values: Sequence[float | None]) -> list[int]:
    """Rank values highest first; equal values (to TIE_DECIMALS) share a rank, the next skips (1, 2, 2, 4).

    A missing value ranks after every value.
    """
    keyed = [round(v, TIE_DECIMALS) if v is not None else -math.inf for v in values]
    order = sorted(range(len(values)), key=lambda i: -keyed[i])
    ranks = [0] * len(values)
    for pos, i in enumerate(order):
        if pos > 0 and keyed[i] == keyed[order[pos - 1]]:
            ranks[i] = ranks[order[pos - 1]]
        else:
            ranks[i] = pos + 1
    return ranks


def is_improvement(change: float | None, higher_is_better: bool) -> bool | None:
    """Say whether a change of a KPI's value is an improvement (None when there is none or no change)."""
    if change is None or abs(change) < NO_CHANGE:
        return None
    return change > 0 if higher_is_better else change < 0
