"""Mosquitto users, ACLs and password hashes made from a site's stations, and the secrets files' modes."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

from typer.testing import CliRunner

from ingest.flood import FloodTopics
from ioc.app.cli.services import app
from ioc.app.services import credentials, mqtt_acl

SITE = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"


def blocks(text: str) -> dict[str, list[str]]:
    """The ACL file's rules per user."""
    rules: dict[str, list[str]] = {}
    user = ""
    for line in text.splitlines():
        if line.startswith("user "):
            user = line.split()[1]
            rules[user] = []
        elif line.startswith("topic "):
            rules[user].append(line)
    return rules


def test_acl_ingest_reads_all_each_station_writes_only_its_own_topic() -> None:
    rules = blocks(mqtt_acl.acl_text(FloodTopics("muong-cha"), ["NS-01", "MT-01"], dev=False))

    assert rules == {
        "ioc-ingest": ["topic read #"],
        "chirpstack": ["topic readwrite application/#"],
        "MT-01": ["topic write ioc/muong-cha/flood/MT-01/up"],
        "NS-01": ["topic write ioc/muong-cha/flood/NS-01/up"],
    }


def test_the_development_user_exists_only_on_the_development_broker() -> None:
    assert "ioc-dev" not in mqtt_acl.users(["NS-01"], dev=False)
    assert blocks(mqtt_acl.acl_text(FloodTopics("s"), ["NS-01"], dev=True))["ioc-dev"] == [
        "topic readwrite #"
    ]


def test_password_hash_is_mosquitto_pbkdf2_sha512() -> None:
    entry = mqtt_acl.password_hash("mật khẩu", salt=b"0123456789ab")
    _, kind, iterations, salt, digest = entry.split("$")

    assert (kind, iterations, base64.b64decode(salt)) == ("7", "101", b"0123456789ab")
    assert base64.b64decode(digest) == hashlib.pbkdf2_hmac(
        "sha512", "mật khẩu".encode(), b"0123456789ab", 101
    )
    assert "pw" not in mqtt_acl.passwd_text({"NS-01": "pw"}).split(":", 1)[1]


def test_credentials_file_is_0600_and_keeps_passwords(tmp_path: Path) -> None:
    first = credentials.ensure(tmp_path, ["ioc-ingest"])
    again = credentials.ensure(tmp_path, ["ioc-ingest", "NS-02"])

    assert stat.S_IMODE(credentials.path_of(tmp_path).stat().st_mode) == 0o600
    assert again.postgres == first.postgres and again.redis == first.redis
    assert again.mqtt["ioc-ingest"] == first.mqtt["ioc-ingest"] and "NS-02" in again.mqtt
    assert len({*first.postgres.values(), first.redis}) == 4


def test_mqtt_acl_command_writes_the_broker_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["mqtt-acl", "--site", str(SITE), "--out", str(tmp_path), "--lang", "en"]
    )
    assert result.exit_code == 0, result.output
    users = dict(
        line.split("=", 1)
        for line in (tmp_path / "mqtt-users.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    again = CliRunner().invoke(app, ["mqtt-acl", "--site", str(SITE), "--out", str(tmp_path)])
    assert again.exit_code == 0, again.output

    assert {"ioc-ingest", "chirpstack", "NS-01"} <= set(users) and "ioc-dev" not in users
    assert stat.S_IMODE((tmp_path / "passwd").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "mqtt-users.env").stat().st_mode) == 0o600
    assert set(blocks((tmp_path / "acl").read_text())) == set(users)
    # A second run keeps every password (stations already configured keep working).
    assert (tmp_path / "mqtt-users.env").read_text().count(users["NS-01"]) == 1
    assert users["NS-01"] in (tmp_path / "mqtt-users.env").read_text()
