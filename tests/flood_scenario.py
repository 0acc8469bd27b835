"""One flood scenario shared by the embedded and the distributed slice tests: the same input, the same outcome."""

from __future__ import annotations

from datetime import datetime, timedelta

from ingest.flood import FloodTopics, encode_reading

# NS-01 alarm levels in configs/muong-cha: I 2.0, II 3.0, III 4.0, hysteresis 0.15.
NS01_LEVELS = [1.2, 1.6, 2.1, 2.6, 3.1, 3.6, 4.2, 4.4, 3.9, 3.2, 2.4, 1.8, 1.3]
# NN-01 (I 1.5, II 2.3, III 3.0) rises to level II and stays there: its alert must be open at the end.
NN01_LEVELS = [0.8, 1.2, 1.6, 2.4, 2.5]
BAD_MESSAGES = [
    ("flood/NS-01", b"{not json"),
    ("flood/XX-99", b'{"ts": 1700000000, "water_level_m": 1.0}'),
    ("flood/NS-01", b'{"ts": "2026-01-01T00:00:00", "water_level_m": 1.0}'),
]


def messages(scheme: FloodTopics, start: datetime) -> list[tuple[str, bytes]]:
    """Return the good messages of the scenario, one minute apart, in order per station."""
    out = []
    for i, level in enumerate(NS01_LEVELS):
        out.append(
            (scheme.for_station("NS-01"), encode_reading(start + timedelta(minutes=i), {"water_level_m": level}))
        )
    for i, level in enumerate(NN01_LEVELS):
        out.append((scheme.for_station("NN-01"),
                    encode_reading(start + timedelta(minutes=i), {"water_level_m": level, "rainfall_mm": 2.5})))
    return out


def bad_messages(scheme: FloodTopics) -> list[tuple[str, bytes]]:
    """Return the malformed messages of the scenario, with their topics."""
    return [(f"{scheme.prefix}/{scheme.site_id}/{sub}/up", payload) for sub, payload in BAD_MESSAGES]


EXPECTED_NS01_HISTORY = ["opened", "escalated", "escalated", "updated", "updated", "resolved"]
EXPECTED_NN01_HISTORY = ["opened", "escalated"]
EXPECTED_DEAD_REASONS = sorted(["malformed_json", "unknown_station", "invalid_field"])
# At the end NN-01 is still at level II; NS-01 went back below level I (its last level before that was I).
EXPECTED_ALERTS = [("flood:NN-01:level", "open", "major"), ("flood:NS-01:level", "resolved", "warning")]
