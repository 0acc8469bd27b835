"""The ioc command line: every process has its subcommand; errors are clear in both languages."""

from __future__ import annotations

import psycopg
import psycopg.sql
import pytest
from typer.testing import CliRunner

from ioc.app.cli.main import app
from ioc.store.migrate import available
from tests.conftest import drop_database

runner = CliRunner()


@pytest.mark.parametrize(
    "argv",
    [["demo"], ["worker"], ["dashboard"], ["db", "migrate"], ["config", "validate"],
     ["services", "up"], ["services", "down"], ["services", "status"], ["sim", "flood"], ["lag", "status"],
     *[["ingest", source] for source in ("mqtt", "camera", "webhook", "lorawan")],
     *[["bench", what] for what in ("ingest", "vision", "alerts", "dashboard", "delivery", "soak", "fuzz")]],
)
def test_every_subcommand_exists(argv: list[str]) -> None:
    result = runner.invoke(app, [*argv, "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("argv", "lang", "expected"),
    [
        (["worker", "nope"], "vi", "Không có tiến trình xử lý 'nope'"),
        (["worker", "nope"], "en", "No worker named 'nope'"),
        (["db", "migrate", "--timescale", "maybe"], "en", "--timescale must be auto, on or off"),
    ],
)
def test_wrong_names_get_a_clear_error(argv: list[str], lang: str, expected: str) -> None:
    result = runner.invoke(app, [*argv, "--lang", lang])
    assert result.exit_code == 1
    assert expected in " ".join(result.output.split())


@pytest.mark.parametrize(("argv", "own", "foreign"), [
    (["bench", "ingest"], "--readings", "--quick"),
    (["bench", "vision"], "--quick", "--readings"),
    (["bench", "delivery"], "--officers", "--days"),
    (["ingest", "mqtt"], "--client-id", "--camera"),
    (["ingest", "camera"], "--camera", "--client-id"),
])
def test_each_verb_shows_only_its_own_options(argv: list[str], own: str, foreign: str) -> None:
    result = runner.invoke(app, [*argv, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert own in result.output and foreign not in result.output


@pytest.mark.parametrize("argv", [["ingest", "carrier-pigeon"], ["bench", "nope"]])
def test_an_unknown_verb_is_refused(argv: list[str]) -> None:
    assert runner.invoke(app, argv).exit_code == 2


@pytest.mark.parametrize(("argv", "env", "lang", "expected"), [
    (["--metrics-port", "70000"], {}, "en", "--metrics-port='70000' is not valid: give a number from 1 to 65,535"),
    ([], {"IOC_LAG_THRESHOLD": "lots"}, "vi", "IOC_LAG_THRESHOLD='lots' không hợp lệ: cần một số từ 1 đến"),
])
def test_worker_lag_settings_refused_in_both_languages(
    argv: list[str], env: dict[str, str], lang: str, expected: str
) -> None:
    result = runner.invoke(app, ["worker", "flood", *argv, "--lang", lang], env=env)
    assert result.exit_code == 1, result.output
    assert expected in " ".join(result.output.split())


def test_invalid_site_config_names_file_and_line(tmp_path, site_dir) -> None:  # type: ignore[no-untyped-def]
    import shutil

    broken = tmp_path / "site"
    shutil.copytree(site_dir, broken)
    path = broken / "stations.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("{I: 2.0, II: 3.0, III: 4.0}",
                                                             "{I: 2.0, II: 1.0, III: 4.0}"), encoding="utf-8")
    result = runner.invoke(app, ["worker", "flood", "--site", str(broken)])
    assert result.exit_code == 1
    assert "stations.yaml:" in result.output and "alarm_levels" in result.output


@pytest.mark.services
@pytest.mark.parametrize(("choice", "flavour"), [("off", "plain"), ("auto", "timescale")])
def test_db_migrate_on_a_new_database(endpoints, choice: str, flavour: str) -> None:  # type: ignore[no-untyped-def]
    """The development server preloads TimescaleDB, so auto takes it; off keeps plain PostgreSQL."""
    drop_database("ioc_cli_migrate")
    with psycopg.connect(endpoints.postgres_owner_dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE ioc_cli_migrate")
    dsn = psycopg.conninfo.make_conninfo(endpoints.postgres_owner_dsn, dbname="ioc_cli_migrate")
    try:
        args = ["db", "migrate", "--database-url", dsn, "--timescale", choice, "--lang", "en"]
        first = runner.invoke(app, args)
        second = runner.invoke(app, args)
        n = len(available(flavour))
        assert first.exit_code == 0, first.output
        assert f"Database ({flavour}): {n} migrations applied, 0 already there." in first.output
        assert second.exit_code == 0 and f"0 migrations applied, {n} already there" in second.output
    finally:
        drop_database("ioc_cli_migrate")


def test_db_migrate_with_the_database_down_fails_clearly() -> None:
    result = runner.invoke(app, ["db", "migrate", "--database-url", "postgresql://ioc@127.0.0.1:1/ioc?connect_timeout=1"])
    assert result.exit_code == 1
    assert "PostgreSQL" in result.output
