"""Alerts and their messages the way production writes them: the real writer with the outbox planner, then
the sender's outbox steps (claim, start, fail/sent) from ioc/notify/outbox.py."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from ioc.config.models import SiteConfig
from ioc.events import AlertEvent, AlertTransition, Severity
from ioc.notify import outbox
from ioc.notify.outbox import OutboxPlanner
from ioc.notify.planner import Planner
from ioc.store.writer import Writer


def in_day_shift(now: datetime) -> datetime:
    """Return the latest 10:00 Asia/Ho_Chi_Minh at or before ``now`` (UTC).

    The sample roster puts Nguyễn Văn Hùng on duty 07:00-19:00 local: alerts the tests open at "now" were
    planned for the night officer when the suite ran in the evening (a failure that depended on the hour).
    """
    local = now.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    ten = local.replace(hour=10, minute=0, second=0, microsecond=0)
    if ten > local:
        ten -= timedelta(days=1)
    return ten.astimezone(UTC)


# (station, area, station name) of the flood alerts the tests open.
NA_SANG = ("NS-01", "03172", "Suối Nậm Chà - cầu trung tâm Na Sang")
MUONG_TUNG = ("NS-02", "03181", "Trạm Mường Tùng")


def flood_opened(place: tuple[str, str, str], at: datetime, *, key_suffix: str = "level") -> AlertEvent:
    """A critical flood alert opening at a station, like the flood core's."""
    station, area, name = place
    return AlertEvent.create(
        f"flood:{station}:{key_suffix}",
        AlertTransition.OPENED,
        at,
        opened_at=at,
        severity=Severity.CRITICAL,
        source_kind="flood",
        source_id=station,
        area_code=area,
        message_key="alert.flood.level",
        params={"station": name, "value": 4.31, "level": "III", "alarm_level": 3},
        value=4.31,
    )


def write_alerts(dsn: str, site: SiteConfig, events: list[AlertEvent], at: datetime) -> None:
    """Write alert transitions with the real writer, its outbox planner planning their messages."""

    async def go() -> None:
        writer = await Writer.open(dsn, notify=OutboxPlanner(Planner.from_site(site), clock=lambda: at))
        try:
            report = await writer.write(events)
            assert not report.rejected, report.rejected
        finally:
            await writer.close()

    asyncio.run(go())


def settle(dsn: str, at: datetime, outcomes: dict[uuid.UUID, str | None]) -> dict[uuid.UUID, list[int]]:
    """Claim every due message and settle it per alert: a reason fails it for good, None marks it sent.

    Returns the outbox row ids settled, by alert.
    """

    async def go() -> dict[uuid.UUID, list[int]]:
        done: dict[uuid.UUID, list[int]] = {}
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            rows = await outbox.claim(conn, "wall-test", at, 100, timedelta(minutes=1))
            for row in rows:
                if row.alert_id not in outcomes:
                    continue  # left claimed: pending until its lease runs out
                assert await outbox.start(conn, row, "wall-test", at, timedelta(minutes=1)) == 1
                reason = outcomes[row.alert_id]
                if reason is None:
                    await outbox.sent(conn, row, f"provider-{row.id}", at)
                else:
                    await outbox.fail(conn, row, reason, at)
                done.setdefault(row.alert_id, []).append(row.id)
        return done

    return asyncio.run(go())
