"""Messages about alerts that failed for good (the wall's deliveries panel), limited to the user's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import dict_row

from dashboards.data.alerts import render_message
from dashboards.data.areas import AreaNames
from dashboards.data.db import Database, scope_codes
from dashboards.wall_scope import Scope
from ioc.notify.outbox import FailedDelivery
from ioc.store import alerts as alert_store


@dataclass(frozen=True)
class FailedDeliveryView:
    """A message that failed for good, with its alert's message in the reader's language and its area."""

    delivery: FailedDelivery
    message: str
    severity: str
    area_code: str | None
    area: str | None


# Failed messages of the alerts in the scope (the scope is the alert's area, as for the feed); newest first,
# through the partial index on failed rows.
_FAILED_SQL = """
SELECT o.id, o.alert_id, o.alert_key, o.officer_id, o.channel_id, o.kind, o.step, o.attempts, o.reason,
       o.due_at, o.next_attempt_at AS failed_at, a.message_key, a.params, a.severity, a.area_code
  FROM notify_outbox o JOIN alerts a ON a.alert_id = o.alert_id
 WHERE o.status = 'failed' AND o.next_attempt_at >= %(since)s
   AND (%(codes)s::text[] IS NULL OR a.area_code = ANY(%(codes)s::text[]))
 ORDER BY o.next_attempt_at DESC, o.id DESC
 LIMIT %(limit)s
"""


class DeliveryReader:
    """The failed-for-good messages of the notification outbox."""

    def __init__(self, db: Database, areas: AreaNames) -> None:
        self._db = db
        self._areas = areas

    def failed_deliveries(
        self, since: datetime, lang: str = "vi", scope: Scope | None = None, limit: int = 100
    ) -> list[FailedDeliveryView]:
        """Return the failed-for-good messages about alerts in the scope since ``since``, newest first."""
        params = {"since": since, "codes": scope_codes(scope), "limit": limit}
        with self._db.connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(_FAILED_SQL, params).fetchall()
        out = []
        for r in rows:
            message_key, message_params = r.pop("message_key"), r.pop("params")
            severity, area_code = r.pop("severity"), r.pop("area_code")
            out.append(
                FailedDeliveryView(
                    delivery=FailedDelivery(short_code=alert_store.short_code(r["alert_id"]), **r),
                    message=render_message(message_key, message_params, lang),
                    severity=severity,
                    area_code=area_code,
                    area=self._areas.name(area_code, lang),
                )
            )
        return out
