"""Acknowledging from the wall and the critical-alert takeover, through the real callbacks on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import dash
import psycopg
import pytest
from flask.testing import FlaskClient
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from ioc.config.models import SiteConfig
from ioc.store.live import MemoryLiveStore
from tests.dashboards.wall_helpers import SECRET, call, find, login

pytestmark = pytest.mark.services

PASSWORD = "mat-khau-du-dai-2"
OPERATOR, LEADER, ADMIN = "truc.ban.ack", "lanh.dao.ack", "quan.tri.ack"


@pytest.fixture(scope="module")
def critical(pg_dsn: str, now: datetime) -> dict[str, uuid.UUID]:
    """Two open critical alerts: one in Na Sang (03172), one in Mường Pồn (03202)."""
    ids = {"na_sang": uuid.uuid4(), "muong_pon": uuid.uuid4()}
    rows = [
        (ids["na_sang"], "flood:NS-01:level", "NS-01", "03172", "Suối Nậm Chà - cầu trung tâm Na Sang", 4.3),
        (ids["muong_pon"], "flood:MP-01:rise", "MP-01", "03202", "Sông Nậm Mức - Mường Mươn", 6.9),
    ]
    with psycopg.connect(pg_dsn) as conn:
        # The conftest's major NS-01 alert holds the key flood:NS-01:level; resolve it to open a critical one.
        conn.execute(
            "UPDATE alerts SET status = 'resolved', resolved_at = now() WHERE alert_key = %s",
            ("flood:NS-01:level",),
        )
        for alert_id, key, station, area, name, value in rows:
            conn.execute(
                "INSERT INTO alerts (alert_id, alert_key, status, severity, source_kind, source_id, "
                "area_code, "
                "message_key, params, value, opened_at, updated_at) "
                "VALUES (%s, %s, 'open', 'critical', 'flood', %s, %s, 'alert.flood.level', %s, %s, %s, %s)",
                (
                    alert_id,
                    key,
                    station,
                    area,
                    Jsonb({"station": name, "level": "III", "value": value, "alarm_level": 3}),
                    value,
                    now - timedelta(minutes=1),
                    now,
                ),
            )
    return ids


@pytest.fixture(scope="module")
def app(
    pool: ConnectionPool,
    live: MemoryLiveStore,
    site: SiteConfig,
    site_dir: Path,
    filled: dict[str, object],
    critical: dict[str, uuid.UUID],
    tmp_path_factory: pytest.TempPathFactory,
) -> dash.Dash:
    auth = AuthStore(pool)
    auth.ensure_user(OPERATOR, PASSWORD, "operator", ["03172"])
    auth.ensure_user(LEADER, PASSWORD, "leader")
    auth.ensure_user(ADMIN, PASSWORD, "admin")
    return create_app(
        PostgresWallData(pool, live, site),
        site,
        auth=auth,
        secret_key=SECRET,
        site_dir=site_dir,
        snapshot_root=tmp_path_factory.mktemp("snapshots"),
    )


def signed_in(app: dash.Dash, username: str) -> FlaskClient:
    client = app.server.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


def ack(client: FlaskClient, alert_id: object, lang: str = "vi") -> tuple[str, str]:
    out = call(
        client,
        "ack-status.children",
        {"ack-request.data": {"alert_id": str(alert_id), "at": 1}, "ack-done.data": 0, "lang.data": lang},
    )
    assert out["ack-done"]["data"] == 1
    return out["ack-status"]["children"], out["ack-status"]["className"]


def watch(client: FlaskClient) -> list[dict[str, str]]:
    out = call(client, "critical.data", {"watch-tick.n_intervals": 1, "ack-done.data": 0, "lang.data": "vi"})
    return out["critical"]["data"]


def row(pg_dsn: str, alert_id: uuid.UUID) -> tuple[object, ...]:
    with psycopg.connect(pg_dsn) as conn:
        found = conn.execute(
            "SELECT status, acknowledged_by, acknowledged_via FROM alerts WHERE alert_id = %s", (alert_id,)
        ).fetchone()
    assert found is not None
    return tuple(found)


def audit(pg_dsn: str, alert_id: uuid.UUID) -> list[tuple[str, str]]:
    with psycopg.connect(pg_dsn) as conn:
        return [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT username, action FROM audit_log WHERE target = %s ORDER BY id", (str(alert_id),)
            )
        ]


def test_the_takeover_is_in_the_shell_hidden_with_ack_only_for_operators(app: dash.Dash) -> None:
    operator = signed_in(app, OPERATOR).get("/_dash-layout").get_json()
    assert find(operator, "takeover")["props"]["className"] == "takeover hidden"
    assert find(operator, "takeover-ack") is not None and find(operator, "takeover-dismiss") is not None
    leader = signed_in(app, LEADER).get("/_dash-layout").get_json()
    assert find(leader, "takeover-ack") is None and find(leader, "takeover-dismiss") is not None


def test_the_watch_reports_new_critical_alerts_in_scope(
    app: dash.Dash, critical: dict[str, uuid.UUID]
) -> None:
    seen = watch(signed_in(app, OPERATOR))
    assert [a["id"] for a in seen] == [str(critical["na_sang"])]
    assert "Suối Nậm Chà" in seen[0]["message"] and "Na Sang" in seen[0]["meta"]
    assert {a["id"] for a in watch(signed_in(app, ADMIN))} == {str(c) for c in critical.values()}


def test_a_leader_may_not_acknowledge_and_the_attempt_is_recorded(
    app: dash.Dash, pg_dsn: str, critical: dict[str, uuid.UUID]
) -> None:
    text, css = ack(signed_in(app, LEADER), critical["na_sang"])
    assert text == "Tài khoản của bạn không được tiếp nhận cảnh báo." and "failed" in css
    assert row(pg_dsn, critical["na_sang"])[0] == "open"
    assert (LEADER, "alert.acknowledge_refused") in audit(pg_dsn, critical["na_sang"])


def test_an_operator_cannot_acknowledge_outside_their_scope(
    app: dash.Dash, pg_dsn: str, critical: dict[str, uuid.UUID]
) -> None:
    text, css = ack(signed_in(app, OPERATOR), critical["muong_pon"])
    assert text == "Không tìm thấy cảnh báo này." and "failed" in css
    assert row(pg_dsn, critical["muong_pon"])[0] == "open"
    assert audit(pg_dsn, critical["muong_pon"]) == []


def test_a_malformed_request_is_refused_without_harm(app: dash.Dash) -> None:
    client = signed_in(app, OPERATOR)
    out = call(
        client,
        "ack-status.children",
        {"ack-request.data": {"alert_id": "'; DROP TABLE alerts;--"}, "ack-done.data": 0, "lang.data": "en"},
    )
    assert out["ack-status"]["children"] == "No such alert."
    assert (
        call(
            client, "ack-status.children", {"ack-request.data": None, "ack-done.data": 0, "lang.data": "en"}
        )["ack-status"]["children"]
        == "No such alert."
    )


def test_the_operator_acknowledges_once_and_it_is_audited(
    app: dash.Dash, pg_dsn: str, critical: dict[str, uuid.UUID]
) -> None:
    client = signed_in(app, OPERATOR)
    assert ack(client, critical["na_sang"]) == ("Đã tiếp nhận cảnh báo.", "ack-status n0")
    assert row(pg_dsn, critical["na_sang"]) == ("acknowledged", OPERATOR, "wall")
    assert audit(pg_dsn, critical["na_sang"]).count((OPERATOR, "alert.acknowledge")) == 1
    # The takeover no longer shows it, and a second press changes nothing.
    assert watch(client) == []
    assert ack(client, critical["na_sang"], "en") == ("The alert was already acknowledged.", "ack-status n0")
    assert audit(pg_dsn, critical["na_sang"]).count((OPERATOR, "alert.acknowledge")) == 1
    # The feed shows it acknowledged, without a button.
    out = call(client, "banner.children", {"tick.n_intervals": 2, "ack-done.data": 1, "lang.data": "vi"})
    item = find(out["alerts"]["children"], f"alert-{critical['na_sang']}")
    assert "status-acknowledged" in item["props"]["className"]
    assert f"tài khoản {OPERATOR} đã tiếp nhận" in json.dumps(item, ensure_ascii=False)
    assert find(out["alerts"]["children"], f"ack-{critical['na_sang']}") is None


def test_an_admin_acknowledges_anywhere(app: dash.Dash, pg_dsn: str, critical: dict[str, uuid.UUID]) -> None:
    assert ack(signed_in(app, ADMIN), critical["muong_pon"])[0] == "Đã tiếp nhận cảnh báo."
    assert row(pg_dsn, critical["muong_pon"]) == ("acknowledged", ADMIN, "wall")
    assert (ADMIN, "alert.acknowledge") in audit(pg_dsn, critical["muong_pon"])
