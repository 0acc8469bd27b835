"""The flood gauges' small pictures drawn as plain SVG: a bullet gauge against the alarm levels and a trend line.

Plotly figures cost the gauges page most of its time: two figures per station, each cleaned and serialised by
plotly's JSON encoder on the server (about 0.4 ms a figure) and laid out by plotly.js in the browser (the page of
50 stations took 1.3-1.6 s to draw). A picture that only shows needs none of that: the SVG is a few hundred bytes
of text built with string formatting and drawn by the browser as an image. Values in, SVG text out; ``data_uri``
turns it into an ``<img>`` source.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from dashboards.format import VN_TZ, level_colour

TEXT = "#e5e9f0"
MUTED = "#93a4c3"
GRID = "#1d2a42"
PANEL = "#131c2e"
FONT = "font-family='Inter,Segoe UI,Roboto,Noto Sans,Arial,sans-serif'"

GAUGE_W, GAUGE_H = 400, 64
TREND_W, TREND_H = 400, 150
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 44, 8, 6, 22  # the trend's room for its level and time labels


class LevelPoint(Protocol):
    """One point of a trend: when, and the level then."""

    @property
    def at(self) -> datetime: ...

    @property
    def value(self) -> float: ...


def data_uri(svg: str) -> str:
    """Return ``svg`` as a ``data:`` URI for an ``<img>`` (base64: no escaping rules to get wrong)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _n(x: float) -> str:
    """A coordinate with one decimal: enough for a 400-unit picture, short in the page."""
    return f"{x:.1f}"


def _svg(width: int, height: int, label: str, body: Sequence[str]) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' "
        f"height='{height}' role='img' aria-label={quoteattr(label)} {FONT}>"
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def gauge_range(value: float | None, thresholds: tuple[float, float, float]) -> tuple[float, float]:
    """The gauge's scale: a band's width of room below level I and above level III, and the value always in."""
    i, ii, iii = thresholds
    step = max(iii - ii, ii - i, 0.5)
    low = min(i - step, value if value is not None else i) - 0.1
    high = max(iii + step, value if value is not None else iii) + 0.1
    return low, high


def gauge_svg(
    value: float | None,
    thresholds: tuple[float, float, float],
    level: int | None,
    label: str,
    number: str = "{:.2f}",
) -> str:
    """A bullet gauge: bands for normal and alarm levels I, II, III, the level as a bar and a mark in its colour.

    ``label`` is the picture's accessible text; ``number`` formats the threshold ticks (the page's language).
    """
    low, high = gauge_range(value, thresholds)
    span = high - low
    left, right, top, bar_h = 6.0, GAUGE_W - 14.0, 4.0, 36.0

    def x(v: float) -> float:
        return left + (right - left) * (min(max(v, low), high) - low) / span

    edges = [low, *thresholds, high]
    alphas = (0.45, 0.55, 0.6, 0.65)
    body = [
        f"<rect class='band' data-from='{a:g}' data-to='{b:g}' x='{_n(x(a))}' y='{_n(top)}' "
        f"width='{_n(x(b) - x(a))}' height='{_n(bar_h)}' fill='{_rgba(level_colour(k), alphas[k])}'/>"
        for k, (a, b) in enumerate(itertools.pairwise(edges))
    ]
    if value is not None:
        body.append(
            f"<rect class='value' data-value='{value:g}' x='{_n(left)}' y='{_n(top + bar_h * 0.325)}' "
            f"width='{_n(x(value) - left)}' height='{_n(bar_h * 0.35)}' fill='{TEXT}'/>"
            f"<line x1='{_n(x(value))}' x2='{_n(x(value))}' y1='{_n(top + 2)}' y2='{_n(top + bar_h - 2)}' "
            f"stroke='{level_colour(level)}' stroke-width='5'/>"
        )
    body.extend(
        f"<text x='{_n(x(th))}' y='{GAUGE_H - 6}' fill='{MUTED}' font-size='14' text-anchor='middle'>"
        f"{escape(number.format(th))}</text>"
        for th in thresholds
    )
    return _svg(GAUGE_W, GAUGE_H, label, body)


def trend_svg(
    points: Sequence[LevelPoint],
    thresholds: tuple[float, float, float],
    level: int | None,
    label: str,
    tz: ZoneInfo = VN_TZ,
    number: str = "{:.2f}",
) -> str:
    """The recent water level as a filled line, with the nearby alarm thresholds dashed in their colours.

    Times are written in ``tz`` (the site's wall clock) at the start, middle and end; the level axis shows the
    bottom and top of the range. Without points the picture is an empty frame with its label.
    """
    if not points:
        return _svg(TREND_W, TREND_H, label, [])
    values = [p.value for p in points]
    lo, hi = min(values), max(values)
    # Show level I always, higher levels when the water comes within reach of them.
    shown = [(k, th) for k, th in enumerate(thresholds) if k == 0 or th <= hi + (hi - lo) + 0.5]
    y0 = min(lo, *(th for _, th in shown)) - 0.1
    y1 = max(hi, *(th for _, th in shown)) + 0.1
    t0, t1 = points[0].at.timestamp(), points[-1].at.timestamp()
    plot_w, plot_h = TREND_W - _PAD_L - _PAD_R, TREND_H - _PAD_T - _PAD_B

    def x(at: datetime) -> float:
        return _PAD_L + (plot_w * (at.timestamp() - t0) / (t1 - t0) if t1 > t0 else plot_w)

    def y(v: float) -> float:
        return _PAD_T + plot_h * (y1 - v) / (y1 - y0)

    colour = level_colour(level)
    line = " ".join(f"{_n(x(p.at))},{_n(y(p.value))}" for p in points)
    base = _n(_PAD_T + plot_h)
    first, last = _n(x(points[0].at)), _n(x(points[-1].at))
    body = [
        f"<rect x='{_PAD_L}' y='{_PAD_T}' width='{plot_w}' height='{plot_h}' fill='none' stroke='{GRID}'/>",
        f"<polygon points='{first},{base} {line} {last},{base}' fill='{_rgba(colour, 0.15)}'/>",
        f"<polyline class='level' data-points='{len(points)}' points='{line}' fill='none' stroke='{colour}' "
        "stroke-width='3' stroke-linejoin='round'/>",
    ]
    body.extend(
        f"<line class='threshold' data-level='{k + 1}' x1='{_PAD_L}' x2='{TREND_W - _PAD_R}' y1='{_n(y(th))}' "
        f"y2='{_n(y(th))}' stroke='{level_colour(k + 1)}' stroke-width='1.5' stroke-dasharray='6 4'/>"
        for k, th in shown
    )
    for v, anchor_y in ((y1, _PAD_T + 12), (y0, _PAD_T + plot_h - 2)):
        body.append(
            f"<text x='{_PAD_L - 4}' y='{_n(anchor_y)}' fill='{MUTED}' font-size='12' text-anchor='end'>"
            f"{escape(number.format(v))}</text>"
        )
    middle = points[len(points) // 2]
    for p, anchor in ((points[0], "start"), (middle, "middle"), (points[-1], "end")):
        if anchor == "middle" and len(points) < 3:
            continue
        body.append(
            f"<text x='{_n(x(p.at))}' y='{TREND_H - 6}' fill='{MUTED}' font-size='12' text-anchor='{anchor}'>"
            f"{p.at.astimezone(tz):%H:%M}</text>"
        )
    return _svg(TREND_W, TREND_H, label, body)
