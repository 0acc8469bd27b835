"""Months of flood-station history for ``ioc bench dashboard`` and the data-path tests.

A bench site is the sample site with more stations (the sample's own four first, then stations placed beside
them in the same communes), each sending the four metrics a real gauge sends (water level, rainfall, battery,
signal) every ``interval_s``. The rows go into ``sensor_readings`` with one binary ``COPY`` per day and the
rollups are brought up to date for that day with the same ``ioc_refresh_readings_rollups`` the writer calls
(or TimescaleDB's ``refresh_continuous_aggregate``), so the database looks like one that has run for months.
Values are seeded: the same arguments give the same rows.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg import sql

from ioc.config.models import FloodStation, SiteConfig
from ioc.events import KpiValue, PeriodKind, stable_id, utcnow
from ioc.store.jobs import call_refresh
from ioc.store.writer import Writer

logger = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("water_level_m", "rainfall_mm", "battery_v", "signal_dbm")
SOURCE = "bench"
_COPY_SQL = (
    "COPY sensor_readings (time, station_id, metric, value, event_id, received_at, source) "
    "FROM STDIN (FORMAT BINARY)"
)
_COPY_TYPES = ("timestamptz", "text", "text", "float8", "uuid", "timestamptz", "text")
_ROLLUPS = ("sensor_readings_1m", "sensor_readings_1h", "sensor_readings_1d")


@dataclass(frozen=True)
class LoadReport:
    """What ``load_history`` wrote and how long it took."""

    series: int
    rows: int
    days: int
    interval_s: int
    copy_seconds: float
    rollup_seconds: float
    newest: datetime


def bench_site(site: SiteConfig, stations: int) -> SiteConfig:
    """Return ``site`` with ``stations`` flood stations: its own first, then copies placed beside them.

    The extra stations take the alarm levels of the station they copy and stand 1-4 km from it, in its
    commune, so the map, the tiles and the alert feed look like a larger district's.
    """
    own = list(site.flood_stations)
    if not own:
        raise ValueError("the site has no flood station to copy")
    if stations < len(own):
        return site.model_copy(update={"flood_stations": own[:stations]})
    extra: list[FloodStation] = []
    for n in range(stations - len(own)):
        base = own[n % len(own)]
        angle = 2.399963 * n  # golden angle: neighbours spread around their model instead of stacking
        reach = 0.01 + 0.03 * ((n * 7919) % 100) / 100
        extra.append(
            base.model_copy(
                update={
                    "id": f"BX-{n + 1:03d}",
                    "name": f"{base.name} ({n + 1})",
                    "lat": base.lat + reach * math.sin(angle),
                    "lon": base.lon + reach * math.cos(angle),
                    "lorawan": None,
                }
            )
        )
    return site.model_copy(update={"flood_stations": own + extra})


def station_series(station: FloodStation, times: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Return plausible values of the four metrics at ``times`` (epoch seconds) for one station.

    Water rises and falls with a slow seasonal swing, a daily ripple and a few rain-driven floods, some of
    which pass alarm level I; rainfall comes in showers; the battery charges by day; the signal wanders.
    """
    rng = np.random.default_rng(seed)
    days = (times - times[0]) / 86_400.0
    level_i = station.alarm_levels.I
    storms = np.zeros_like(days)
    rain = np.zeros_like(days)
    for start in rng.uniform(0, max(days[-1], 1.0), size=max(1, round(days[-1] / 15))):
        height = rng.uniform(0.2, 0.9) * level_i
        width = rng.uniform(0.3, 1.5)
        after = days - start
        storms += np.where(after > 0, height * after / width * np.exp(1 - after / width), 0.0)
        rain += np.where((after > -0.3) & (after < 0.2), rng.uniform(2, 15), 0.0)
    water = (
        0.45 * level_i
        + 0.1 * level_i * np.sin(2 * np.pi * days / 45 + seed)
        + 0.02 * level_i * np.sin(2 * np.pi * days)
        + storms
        + rng.normal(0, 0.005 * level_i, size=days.size)
    )
    showers = np.clip(rng.gamma(0.3, 1.5, size=days.size) - 0.4, 0, None)
    hour = (days % 1.0) * 24
    battery = 3.7 + 0.3 * np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None) + rng.normal(0, 0.01, days.size)
    signal = -85 + 6 * np.sin(2 * np.pi * days / 3 + seed) + rng.normal(0, 1.5, days.size)
    return {
        "water_level_m": np.round(water, 3),
        "rainfall_mm": np.round(showers + rain * (rng.random(days.size) < 0.5), 1),
        "battery_v": np.round(battery, 2),
        "signal_dbm": np.round(signal, 0),
    }


def load_history(
    dsn: str,
    site: SiteConfig,
    *,
    days: int,
    interval_s: int = 300,
    metrics: Sequence[str] = METRICS,
    end: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LoadReport:
    """Write ``days`` of readings of every station and metric of ``site`` up to ``end`` (now), with rollups.

    One binary COPY and one rollup refresh per day, each in its own transaction; ``progress(done, days)`` is
    called after each day. Planner statistics are refreshed at the end, as autovacuum would after a bulk load.
    """
    if days < 1 or interval_s < 1:
        raise ValueError("days and interval_s must be at least 1")
    newest = _floor(end or utcnow(), interval_s)
    first = newest - timedelta(days=days) + timedelta(seconds=interval_s)
    stamps = np.arange(first.timestamp(), newest.timestamp() + 1, interval_s, dtype=np.float64)
    series = {st.id: station_series(st, stamps, seed=i) for i, st in enumerate(site.flood_stations)}
    per_day = 86_400 // interval_s
    rows = copy_s = rollup_s = 0.0
    namespace = uuid.UUID(int=0x10C_BE4C)  # event ids derived from the row, so a rerun would collide, not add
    with psycopg.connect(dsn, autocommit=True) as conn:
        timescale = _is_timescale(conn)
        for day in range(days):
            lo, hi = day * per_day, min((day + 1) * per_day, stamps.size)
            if lo >= hi:
                break
            times = [datetime.fromtimestamp(s, tz=first.tzinfo) for s in stamps[lo:hi]]
            t0 = time.perf_counter()
            with conn.transaction(), conn.cursor().copy(_COPY_SQL) as copy:
                copy.set_types(_COPY_TYPES)
                for sid, values in series.items():
                    for metric in metrics:
                        column = values[metric][lo:hi].tolist()
                        base = uuid.uuid5(namespace, f"{sid}/{metric}").int
                        for k, (at, value) in enumerate(zip(times, column, strict=True)):
                            event_id = uuid.UUID(int=(base + lo + k) & ((1 << 128) - 1))
                            copy.write_row((at, sid, metric, value, event_id, at, SOURCE))
            t1 = time.perf_counter()
            _refresh_rollups(conn, times[0], times[-1], timescale)
            t2 = time.perf_counter()
            rows += (hi - lo) * len(series) * len(metrics)
            copy_s += t1 - t0
            rollup_s += t2 - t1
            if progress is not None:
                progress(day + 1, days)
        conn.execute("ANALYZE sensor_readings")
        analyze_rollups(conn, _ROLLUPS, timescale)
    return LoadReport(
        series=len(series) * len(metrics),
        rows=int(rows),
        days=days,
        interval_s=interval_s,
        copy_seconds=copy_s,
        rollup_seconds=rollup_s,
        newest=newest,
    )


@dataclass(frozen=True)
class CrossingsReport:
    """What ``load_crossings`` wrote."""

    lines: int
    rows: int
    seconds: float


_CROSSINGS_COPY_SQL = (
    "COPY line_crossings (crossed_at, camera_id, line_id, track_id, object_class, direction, event_id) "
    "FROM STDIN (FORMAT BINARY)"
)
_CROSSINGS_TYPES = ("timestamptz", "text", "text", "int8", "text", "text", "uuid")
_ROAD_CLASSES = ("motorcycle", "motorcycle", "motorcycle", "car", "car", "truck", "bus")


def load_crossings(
    dsn: str,
    site: SiteConfig,
    *,
    days: int,
    per_minute: float = 1.5,
    end: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CrossingsReport:
    """Write ``days`` of line crossings for every counting line of the site's cameras, with the minute counts.

    Traffic follows the day (quiet at night, peaks at 7:00 and 17:00 local time) around ``per_minute`` per
    line on average; mostly motorcycles, as on Vietnamese roads. One binary COPY and one
    ``ioc_refresh_line_counts`` per day, like the writer after each batch.
    """
    lines = [(cam.id, line.id) for cam in site.cameras for line in cam.lines]
    newest = _floor(end or utcnow(), 60)
    first = newest - timedelta(days=days) + timedelta(minutes=1)
    rng = np.random.default_rng(7)
    rows = 0
    t0 = time.perf_counter()
    namespace = uuid.UUID(int=0x10C_C055)
    with psycopg.connect(dsn, autocommit=True) as conn:
        timescale = _is_timescale(conn)
        for day in range(days):
            start = first + timedelta(days=day)
            minutes = np.arange(1440)
            local_hour = ((start.timestamp() / 3600 + 7) + minutes / 60) % 24  # Vietnam is UTC+7
            shape = 0.15 + np.exp(-((local_hour - 7) ** 2) / 2) + np.exp(-((local_hour - 17) ** 2) / 3)
            shape = shape / shape.mean()
            with conn.transaction(), conn.cursor().copy(_CROSSINGS_COPY_SQL) as copy:
                copy.set_types(_CROSSINGS_TYPES)
                for k, (camera_id, line_id) in enumerate(lines):
                    counts = rng.poisson(per_minute * shape)
                    counts[minutes > (newest - start).total_seconds() // 60] = 0  # nothing after ``end``
                    base = uuid.uuid5(namespace, f"{camera_id}/{line_id}").int
                    for minute in np.flatnonzero(counts).tolist():
                        for j in range(int(counts[minute])):
                            at = start + timedelta(minutes=minute, seconds=(j * 7.3) % 60)
                            track = (day * 1440 + minute) * 100 + j
                            kind = _ROAD_CLASSES[(track + k) % len(_ROAD_CLASSES)]
                            direction = "in" if (track + k) % 2 else "out"
                            event_id = uuid.UUID(int=(base + track) & ((1 << 128) - 1))
                            copy.write_row((at, camera_id, line_id, track, kind, direction, event_id))
                            rows += 1
            if timescale:
                # Only finished minutes: a materialised current minute would never see its later crossings.
                stop = min(start + timedelta(days=1), _floor(utcnow(), 60))
                if stop > start:
                    call_refresh(conn, "CALL refresh_continuous_aggregate('line_counts_1m', %s, %s)", (start, stop))
            else:
                conn.execute("SELECT ioc_refresh_line_counts(%s, %s)", (start, start + timedelta(days=1)))
            if progress is not None:
                progress(day + 1, days)
        conn.execute("ANALYZE line_crossings")
        analyze_rollups(conn, ("line_counts_1m",), timescale)
    return CrossingsReport(len(lines), rows, time.perf_counter() - t0)


async def load_kpis(dsn: str, site: SiteConfig, *, years: int, end: date | None = None) -> int:
    """Write ``years`` of every KPI of the site for every area below the broadest level, up to ``end``.

    Each figure sits between 60 % and 110 % of its target (or of 100 without one), drifting up over the years,
    at the KPI's own period (month, quarter or year), ``period_start`` at local midnight like the importer's.
    Returns how many figures were written.
    """
    tz = ZoneInfo(site.site.timezone)
    # Reports come after their period: by default the newest figure is for the last finished month.
    last = end or (utcnow().astimezone(tz).date().replace(day=1) - timedelta(days=1))
    broadest = site.site.levels[0].id
    units = [a.code for a in site.areas if a.level != broadest]
    rng = np.random.default_rng(11)
    months = {"month": 1, "quarter": 3, "year": 12}
    events: list[KpiValue] = []
    for kpi in site.kpis:
        step = months[kpi.period.value]
        count = years * 12 // step
        first_month = (last.year * 12 + last.month - 1) // step * step - (count - 1) * step
        for unit in units:
            for i in range(count):
                year, month0 = divmod(first_month + i * step, 12)
                start = datetime.combine(date(year, month0 + 1, 1), datetime.min.time(), tz)
                base = kpi.target if kpi.target else 100.0
                share = 0.6 + 0.4 * i / max(1, count - 1) + rng.normal(0, 0.05)
                events.append(
                    KpiValue(
                        event_id=stable_id("kpi", kpi.id, unit, kpi.period.value, start),
                        kpi_id=kpi.id,
                        unit_code=unit,
                        period_kind=PeriodKind(kpi.period.value),
                        period_start=start,
                        value=round(max(0.0, base * share), 1),
                        source=SOURCE,
                    )
                )
    writer = await Writer.open(dsn)
    try:
        for at in range(0, len(events), 1000):
            report = await writer.write(events[at : at + 1000])
            if report.rejected:
                raise ValueError(f"the writer refused KPI figures: {report.rejected[:3]}")
    finally:
        await writer.close()
    return len(events)


def _refresh_rollups(conn: psycopg.Connection[object], lo: datetime, hi: datetime, timescale: bool) -> None:
    if not timescale:
        conn.execute("SELECT ioc_refresh_readings_rollups(%s, %s)", (lo, hi))
        return
    # Continuous aggregates refresh whole buckets; each level reads the one below, so refresh in order. Only
    # finished buckets (issue 11, defect 4): a materialised current hour or day is never corrected by the
    # writes that follow it; real-time aggregation shows the unfinished one.
    widths = (timedelta(minutes=1), timedelta(hours=1), timedelta(days=1))
    now = utcnow()
    for view, width in zip(_ROLLUPS, widths, strict=True):
        step = int(width.total_seconds())
        start = _floor(lo, step)
        stop = min(_floor(hi, step) + width, _floor(now, step))
        if stop > start:
            call_refresh(conn, f"CALL refresh_continuous_aggregate('{view}', %s, %s)", (start, stop))


def analyze_rollups(conn: psycopg.Connection[tuple[object, ...]], views: Sequence[str], timescale: bool) -> None:
    """Refresh the planner statistics of the rollups: the tables on plain PostgreSQL, and on TimescaleDB the
    materialisation hypertables behind the continuous aggregates (ANALYZE of the view itself is skipped with a
    notice and does nothing)."""
    if not timescale:
        for view in views:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(view)))
        return
    found = conn.execute(
        "SELECT view_name, materialization_hypertable_schema, materialization_hypertable_name "
        "FROM timescaledb_information.continuous_aggregates WHERE view_name = ANY(%s)",
        (list(views),)).fetchall()
    for _, schema, table in found:
        conn.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(str(schema)), sql.Identifier(str(table))))


def _is_timescale(conn: psycopg.Connection[object]) -> bool:
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None


def _floor(at: datetime, interval_s: int) -> datetime:
    return datetime.fromtimestamp(at.timestamp() // interval_s * interval_s, tz=at.tzinfo)
