"""The citizen's SMS: one message per status change of a report that has a phone number (issue 17).

The reports store queues a ``report_sms`` row in the transaction of each status-changing step (migration 0017);
``CitizenSms.drain`` sends the due ones through the SMS channels of ``reports.citizen_sms``, in order: a channel
that cannot take it (not configured, refused) hands it to the next, a provider asking to wait (network trouble,
429) puts the row back with a growing delay, and after ``max_attempts`` or ``give_up_after_h`` the row fails with
the providers' reasons. Rows are leased (``next_attempt_at`` moved forward) before the provider is called, so two
notify workers never send one twice at once; a worker that dies mid-send leaves the row to come back after the
lease, under the same provider reference (eSMS drops a repeated RequestId).

The text says the status in Vietnamese and English, the tracking code and the status page link
(``{IOC_PUBLIC_URL}/report/<code>``): with diacritics when it fits the channel's segment budget and the channel
allows Unicode, else unaccented (GSM-7: 160 characters a segment against 70), and only then shortened, the link
always kept whole (``ioc.notify.sms_text.fit``; the channel fits it again and finds nothing to change).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from ioc import i18n
from ioc.config.models import CitizenSms as CitizenSmsConfig
from ioc.events import utcnow
from ioc.notify.channels.base import Channel, Message, Recipient, SendResult, SendStatus
from ioc.notify.channels.sms import SmsHttpAdapter
from ioc.notify.sms_text import fit

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
BATCH = 50

i18n.register(
    {
        "report.sms.status": ("Phản ánh {code}: {status}.", "Report {code}: {status}."),
    }
)


def status_text(code: str, status: str, link: str, allow_unicode: bool, max_segments: int) -> str:
    """Return the bilingual SMS of one status, fitted to the budget: diacritics, else unaccented, else shorter."""
    vi = i18n.t("report.sms.status", "vi", code=code, status=i18n.t(f"report.status.{status}", "vi"))
    en = i18n.t("report.status." + status, "en")
    body, tail = f"{vi} {en}.", f"\n{link}"
    if allow_unicode:
        whole = fit(body, True, max_segments, tail=tail)
        if not whole.truncated:
            return whole.text
    return fit(body, False, max_segments, tail=tail).text


@dataclass(frozen=True)
class _Due:
    id: int
    step_id: int
    attempts: int
    created_at: datetime
    code: str
    phone: str
    status: str


class CitizenSms:
    """Sends the due ``report_sms`` rows through the configured SMS channels."""

    def __init__(self, pool: AsyncConnectionPool[Any], config: CitizenSmsConfig, channels: Mapping[str, Channel],
                 public_url: str, clock: Any = utcnow) -> None:
        self.pool = pool
        self.config = config
        self.channels = [channels[c] for c in config.channels if c in channels]
        missing = [c for c in config.channels if c not in channels]
        if missing:
            logger.warning("citizens' SMS: channel(s) %s not built; check channels.yaml", ", ".join(missing))
        self.public_url = public_url.rstrip("/")
        self.clock = clock

    async def drain(self) -> int:
        """Send batches until no row is due; return how many rows were handled."""
        total = 0
        while rows := await self._claim():
            for row in rows:
                await self._send(row)
            total += len(rows)
        return total

    async def _claim(self) -> list[_Due]:
        now = self.clock()
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE report_sms s SET next_attempt_at = %s, attempts = s.attempts + 1 "
                "FROM reports r, report_events e "
                "WHERE s.id IN (SELECT id FROM report_sms WHERE status = 'pending' AND next_attempt_at <= %s "
                "               ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
                "AND r.id = s.report_id AND e.id = s.step_id "
                "RETURNING s.id, s.step_id, s.attempts, s.created_at, r.code, r.phone, e.to_status",
                (now + LEASE, now, BATCH),
            )
            # RETURNING keeps no order: a report's statuses go out in the order of its steps
            return sorted((_Due(*row) for row in await cur.fetchall()), key=lambda d: d.step_id)

    async def _send(self, row: _Due) -> None:
        now = self.clock()
        if now - row.created_at > timedelta(hours=self.config.give_up_after_h):
            await self._finish(row.id, "failed", reason="too_old: the status changed too long ago to be news")
            return
        reasons: list[str] = []
        for channel in self.channels:
            result = await channel.send(self._message(row, channel))
            if result.status is SendStatus.SENT:
                await self._finish(row.id, "sent", channel=channel.id, result=result)
                logger.info("citizens' SMS for report %s (%s) sent via %s", row.code, row.status, channel.id)
                return
            reasons.append(f"{channel.id}: {result.reason or result.status.value}")
            if result.status is SendStatus.RETRY:
                if row.attempts >= self.config.max_attempts:
                    break
                delay = result.retry_after_s or min(3600.0, 30.0 * 2 ** (row.attempts - 1))
                await self._retry(row.id, now + timedelta(seconds=delay), "; ".join(reasons))
                return
        if not self.channels:
            reasons.append("no channel of reports.citizen_sms is built")
        await self._finish(row.id, "failed", reason="; ".join(reasons))
        logger.warning("citizens' SMS for report %s (%s) failed: %s", row.code, row.status, "; ".join(reasons))

    def _message(self, row: _Due, channel: Channel) -> Message:
        # An SMS channel's own budget; any other channel (a test's) gets the strictest: one GSM-7 segment.
        allow_unicode, max_segments = False, 1
        if isinstance(channel, SmsHttpAdapter):
            allow_unicode, max_segments = channel.config.allow_unicode, channel.config.max_segments
        link = f"{self.public_url}/report/{row.code}"
        text = status_text(row.code, row.status, link, allow_unicode, max_segments)
        return Message(
            idempotency_key=f"report-sms:{row.step_id}", kind="report_status",
            recipient=Recipient(officer_id="citizen", name="", phone=row.phone), alert_id="", short_code=row.code,
            lang="vi", text=text, params={"code": row.code, "status": row.status, "link": link},
        )

    async def _retry(self, row_id: int, at: datetime, reason: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("UPDATE report_sms SET next_attempt_at = %s, reason = %s WHERE id = %s",
                               (at, reason[:2000], row_id))

    async def _finish(self, row_id: int, status: str, *, channel: str | None = None,
                      result: SendResult | None = None, reason: str = "") -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE report_sms SET status = %s, channel_id = %s, provider_message_id = %s, segments = %s, "
                "reason = %s, sent_at = CASE WHEN %s = 'sent' THEN %s END WHERE id = %s",
                (status, channel, result.provider_message_id if result else None,
                 result.segments if result else None, (reason or (result.reason if result else ""))[:2000] or None,
                 status, self.clock(), row_id),
            )


async def next_due(conn: psycopg.AsyncConnection[Any]) -> datetime | None:
    """Return when the next pending citizen's SMS is due."""
    cur = await conn.execute("SELECT min(next_attempt_at) FROM report_sms WHERE status = 'pending'")
    row = await cur.fetchone()
    return row[0] if row else None
