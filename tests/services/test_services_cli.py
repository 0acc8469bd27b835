"""`ioc services` command line: table, languages, exit code on ServiceError."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ioc.app.cli.services import TEXT, Lang, app

pytestmark = pytest.mark.services

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_every_message_has_both_languages() -> None:
    assert all(set(texts) == {Lang.vi, Lang.en} and all(texts.values()) for texts in TEXT.values())


@pytest.mark.parametrize(
    ("lang", "header", "stopped"), [("vi", "Trạng thái", "đã dừng"), ("en", "State", "stopped")]
)
def test_status_table_in_each_language(tmp_path: Path, lang: str, header: str, stopped: str) -> None:
    env = {"IOC_CACHE_DIR": str(tmp_path), "IOC_REDIS_PORT": str(_free_port()), "COLUMNS": "200"}

    result = runner.invoke(app, ["status", "redis", "--lang", lang], env=env)

    assert result.exit_code == 0, result.output
    assert header in result.output and stopped in result.output


def test_language_from_ioc_lang(tmp_path: Path) -> None:
    env = {
        "IOC_CACHE_DIR": str(tmp_path),
        "IOC_REDIS_PORT": str(_free_port()),
        "IOC_LANG": "en",
        "COLUMNS": "200",
    }

    result = runner.invoke(app, ["status", "redis"], env=env)

    assert result.exit_code == 0, result.output
    assert "Development services" in result.output


def test_missing_binary_exits_1_with_the_fix(tmp_path: Path) -> None:
    env = {
        "IOC_CACHE_DIR": str(tmp_path),
        "IOC_REDIS_PORT": str(_free_port()),
        "IOC_REDIS_SERVER_BIN": "/nonexistent",
        "COLUMNS": "200",
    }

    result = runner.invoke(app, ["up", "redis"], env=env)

    assert result.exit_code == 1
    assert "Lỗi" in result.output and "make system-deps" in result.output
