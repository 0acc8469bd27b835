"""``ioc notify callbacks`` as a process: it serves the ack links and provider callbacks of the sample site
against the real PostgreSQL, and prints where each channel's callbacks go.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ioc.notify.channels.http import callback_token
from ioc.notify.links import ack_url
from ioc.store.alerts import short_code

pytestmark = pytest.mark.services
SECRET = "cli-ack-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ioc notify callbacks exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_callbacks_command_serves_ack_links_and_callbacks(pg_dsn: str, site_dir: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {
        "IOC_ACK_LINK_SECRET": SECRET,
        "IOC_PUBLIC_URL": base,
        "IOC_LANG": "en",
        "IOC_ESMS_API_KEY": "k",
        "IOC_ESMS_SECRET_KEY": "s",
    }
    for name in ("IOC_ZALO_APP_ID", "IOC_SPEEDSMS_ACCESS_TOKEN", "IOC_WEBHOOK_SECRET"):
        env.pop(name, None)
    alert_id = uuid.uuid4()
    now = datetime.now(UTC)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO alerts (alert_id, alert_key, status, severity, source_kind, source_id, message_key, "
            "params, opened_at, updated_at) "
            "VALUES (%s, 'cli:test', 'open', 'major', 'flood_station', 'NS-01', 'alert.flood.level', "
            "%s, %s, %s)",
            (alert_id, Jsonb({"station": "Nậm Pồ", "value": 2.4, "level": "II"}), now, now),
        )
    cmd = [
        sys.executable,
        "-m",
        "ioc",
        "notify",
        "callbacks",
        "--site",
        str(site_dir),
        "--port",
        str(port),
        "--database-url",
        pg_dsn,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_up(f"{base}/healthz", proc)
        link = ack_url(base, str(alert_id), "tran-thu-ha", SECRET.encode())
        with urllib.request.urlopen(link, timeout=5) as resp:
            assert resp.status == 200 and "Acknowledge" in resp.read().decode()
        req = urllib.request.Request(link, method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200 and short_code(alert_id) in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as err:  # a status for a message nobody sent
            urllib.request.urlopen(f"{base}/callbacks/sms-esms?SMSID=x&SendSuccess=1", timeout=5)
        assert err.value.code == 401  # no URL token: refused before the outbox is even asked
        # With the token in the path (where eSMS's ?SMSID=... cannot break it), the outbox is asked.
        token = callback_token("s", "sms-esms")  # keyed with the secret key: no callback_secret_env
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/callbacks/sms-esms/{token}?SMSID=x&SendSuccess=1", timeout=5)
        assert err.value.code == 404
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=15)
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(
            "SELECT status, acknowledged_by, acknowledged_via FROM alerts WHERE alert_id = %s", (alert_id,)
        ).fetchone()
    assert row == ("acknowledged", "tran-thu-ha", "link")
    text = stderr.decode()
    assert "Channel zns-ubnd is not configured: missing IOC_ZALO_APP_ID" in text
    assert f"Channel sms-esms: set the callback URL to {base}/callbacks/sms-esms/{token}" in text
