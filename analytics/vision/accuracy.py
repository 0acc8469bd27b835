"""Counting accuracy: counted line crossings against the truth, per class and direction.

Pure functions on plain counts (``class -> direction -> n``), so the same table serves the accuracy tests, the
vision benchmark and ``docs/ACCURACY.md``. The truth comes from camera_sim's truth file (``Truth.totals``) or
from a person's hand count; the counted side from :meth:`LineCounter.counts` (see :func:`by_class`) or from
``Crossing`` objects (:func:`tally`).

Tolerance (:func:`allowed_error`): a class and direction passes when ``|counted - truth| <= max(absolute,
relative x truth)``, by default ``max(1, 2 %)``. One vehicle of slack whatever the count, because a handful of
crossings in any clip cannot be seen by any counter (a vehicle already at the line in the clip's first frame,
or one whose only sightings before the line were all missed by the detector); above 50 crossings the 2 %
takes over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

# class -> direction ("in"/"out", or a hand count's "up"/"down") -> n
Counts = Mapping[str, Mapping[str, int]]

RELATIVE_TOLERANCE = 0.02
ABSOLUTE_TOLERANCE = 1


class _Crossing(Protocol):
    @property
    def object_class(self) -> str: ...

    @property
    def direction(self) -> str: ...


@dataclass(frozen=True)
class Row:
    """One class and direction: how many crossings were true and how many were counted."""

    object_class: str
    direction: str
    truth: int
    counted: int

    @property
    def error(self) -> int:
        """Return counted minus truth (negative: missed crossings)."""
        return self.counted - self.truth

    @property
    def error_pct(self) -> float | None:
        """Return the error in percent of the truth, None when the truth is zero."""
        return 100.0 * self.error / self.truth if self.truth else None

    def within_tolerance(
        self, relative: float = RELATIVE_TOLERANCE, absolute: int = ABSOLUTE_TOLERANCE
    ) -> bool:
        """Return whether the error is within :func:`allowed_error` of the truth."""
        return abs(self.error) <= allowed_error(self.truth, relative, absolute)


def allowed_error(
    truth: int, relative: float = RELATIVE_TOLERANCE, absolute: int = ABSOLUTE_TOLERANCE
) -> float:
    """Return how far a count may be from ``truth``: max(absolute, relative x truth) (module docstring)."""
    return max(float(absolute), relative * truth)


def _key(value: str | Enum) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def tally(crossings: Iterable[_Crossing]) -> dict[str, dict[str, int]]:
    """Return crossings counted per class and direction."""
    out: dict[str, dict[str, int]] = {}
    for crossing in crossings:
        per_dir = out.setdefault(crossing.object_class, {})
        direction = _key(crossing.direction)
        per_dir[direction] = per_dir.get(direction, 0) + 1
    return out


def by_class(counts: Mapping[str | Enum, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Turn ``direction -> class -> n`` (``LineCounter.counts``) into ``class -> direction -> n``."""
    out: dict[str, dict[str, int]] = {}
    for direction, per_class in counts.items():
        for object_class, n in per_class.items():
            out.setdefault(object_class, {})[_key(direction)] = n
    return out


def compare(truth: Counts, counted: Counts, directions: Iterable[str] = ("in", "out")) -> list[Row]:
    """Return one row per class and direction present in either side, sorted by class then direction."""
    wanted = list(directions)
    classes = sorted(set(truth) | set(counted))
    rows = []
    for object_class in classes:
        t, c = truth.get(object_class, {}), counted.get(object_class, {})
        for direction in [*wanted, *sorted((set(t) | set(c)) - set(wanted))]:
            n_true, n_counted = int(t.get(direction, 0)), int(c.get(direction, 0))
            if n_true or n_counted:
                rows.append(Row(object_class, direction, n_true, n_counted))
    return rows


def failures(
    rows: Iterable[Row], relative: float = RELATIVE_TOLERANCE, absolute: int = ABSOLUTE_TOLERANCE
) -> list[Row]:
    """Return the rows outside the tolerance."""
    return [row for row in rows if not row.within_tolerance(relative, absolute)]


def totals(rows: Iterable[Row]) -> Row:
    """Return all classes and directions summed into one row (class and direction ``all``)."""
    rows = list(rows)
    return Row("all", "all", sum(r.truth for r in rows), sum(r.counted for r in rows))


def recall(rows: Iterable[Row]) -> float:
    """Return the share of true crossings counted, ignoring over-counts per row (1.0 with no truth)."""
    rows = list(rows)
    true = sum(r.truth for r in rows)
    return sum(min(r.truth, r.counted) for r in rows) / true if true else 1.0


def markdown(rows: Iterable[Row], title: str | None = None) -> str:
    """Return the rows as a Markdown table (with a total row), optionally under a bold title line."""
    rows = list(rows)
    lines = [f"**{title}**", ""] if title else []
    lines += ["| class | direction | truth | counted | error | error % |", "|---|---|---:|---:|---:|---:|"]
    for row in [*rows, totals(rows)]:
        pct = "n/a" if row.error_pct is None else f"{row.error_pct:+.1f} %"
        lines.append(
            f"| {row.object_class} | {row.direction} | {row.truth} | {row.counted} | {row.error:+d} | {pct} |"
        )
    return "\n".join(lines)


def worst_pct(rows: Iterable[Row]) -> float:
    """Return the largest absolute error in percent over rows with a truth (0.0 when there are none)."""
    return max((abs(r.error_pct) for r in rows if r.error_pct is not None), default=0.0)
