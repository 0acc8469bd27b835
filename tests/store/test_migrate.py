"""Migrations on the real PostgreSQL: idempotent, recorded, flavour kept."""

from __future__ import annotations

import psycopg

from ioc.store.migrate import available, current_flavor, migrate


def test_migrate_twice_changes_nothing(pg_dsn: str) -> None:
    again = migrate(pg_dsn)
    assert again.applied == []
    assert again.already == len(available(again.flavor))


def test_schema_has_tables_and_rollups(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        names = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "UNION SELECT matviewname FROM pg_matviews"
        )}
    assert {"sensor_readings", "alerts", "alert_events", "dead_letters", "sensor_readings_1m", "sensor_readings_1h",
            "sensor_readings_1d", "schema_migrations"} <= names


def test_flavour_is_recorded(pg_dsn: str) -> None:
    flavor = current_flavor(pg_dsn)
    assert flavor in ("plain", "timescale")
    assert {m.flavor for m in available(flavor)} <= {None, flavor}


def test_both_flavours_define_the_same_migration_numbers() -> None:
    plain = [(m.version, m.name) for m in available("plain")]
    timescale = [(m.version, m.name) for m in available("timescale")]
    assert plain == timescale
