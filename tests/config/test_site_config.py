"""Site configuration: the sample loads, and every kind of mistake is reported at its file, line and key."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ioc.config import default_site_path, env_references, load_site, missing_secrets, secret, validate_site
from ioc.config.loader import OPTIONAL_FILES, SITE_FILES
from ioc.errors import ConfigError, ConfigIssue

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "configs" / "muong-cha"


@pytest.fixture
def site_copy(tmp_path: Path) -> Path:
    """A writable copy of the sample site."""
    target = tmp_path / "muong-cha"
    shutil.copytree(SAMPLE, target)
    return target


def edit(site: Path, name: str, old: str, new: str, count: int = 1) -> None:
    """Replace text in one file of a site copy; fail loudly if the text is not there."""
    path = site / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}: the sample changed, update the test"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def line_of(site: Path, name: str, needle: str) -> int:
    """Return the 1-based line of the first occurrence of ``needle`` in a site file."""
    for number, line in enumerate((site / name).read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {name}")


def only_issue(issues: list[ConfigIssue]) -> ConfigIssue:
    assert len(issues) == 1, "\n".join(str(i) for i in issues)
    return issues[0]


def test_sample_site_loads() -> None:
    site = load_site(SAMPLE)
    assert site.site.id == "muong-cha"
    assert site.site.timezone == "Asia/Ho_Chi_Minh"
    assert [lv.id for lv in site.site.levels] == ["province", "former_district", "commune"]
    assert {a.code for a in site.areas} >= {
        "11",
        "former-muong-cha",
        "03172",
        "03181",
        "03193",
        "03194",
        "03202",
    }
    assert len(site.flood_stations) >= 3
    assert 3 <= len(site.cameras) <= 4
    assert {"dossiers_on_time_pct", "documents_signed_pct", "households_online_pct"} <= {
        k.id for k in site.kpis
    }
    assert {c.type for c in site.channels} == {"zalo_zns", "sms_http", "webhook", "email_smtp"}
    assert {c.provider for c in site.channels if c.type == "sms_http"} == {"esms", "speedsms"}


def test_sample_levels_are_increasing_and_every_area_file_exists() -> None:
    site = load_site(SAMPLE)
    for st in site.flood_stations:
        lv = st.alarm_levels
        assert lv.I < lv.II < lv.III, st.id
    for area in site.areas:
        assert area.geometry is not None and (SAMPLE / area.geometry).is_file(), area.code


def test_simulation_crosses_level_three_and_falls_back_within_a_two_hour_storm() -> None:
    site = load_site(SAMPLE)
    crossing = [
        (sid, sim)
        for sid, sim in site.simulation.stations.items()
        if sim.peak_m - sim.noise_m > site.station(sid).alarm_levels.III
        and sim.baseline_m + sim.noise_m < site.station(sid).alarm_levels.I - site.station(sid).hysteresis_m
        and sim.period_s <= 7200
    ]
    assert crossing, (
        "a simulated station must open and resolve a level III alarm in a storm of at most two hours"
    )


def test_single_yaml_file_holds_every_section(site_copy: Path) -> None:
    merged = "\n".join(
        (site_copy / name).read_text(encoding="utf-8") for name in (*SITE_FILES, *OPTIONAL_FILES)
    )
    single = site_copy / "all-in-one.yaml"
    single.write_text(merged, encoding="utf-8")
    assert load_site(single) == load_site(SAMPLE)


def test_single_file_error_points_at_its_own_line(site_copy: Path) -> None:
    merged = "\n".join(
        (site_copy / name).read_text(encoding="utf-8") for name in (*SITE_FILES, *OPTIONAL_FILES)
    )
    single = site_copy / "all-in-one.yaml"
    single.write_text(merged.replace("hysteresis_m: 0.15", "hysteresis_m: -1"), encoding="utf-8")
    issue = only_issue(validate_site(single))
    assert issue.file == str(single)
    assert issue.line == line_of(site_copy, "all-in-one.yaml", "hysteresis_m: -1")
    assert issue.key == "flood_stations[0].hysteresis_m"


@dataclass(frozen=True)
class Broken:
    """One way to break the sample, and where the issue must point."""

    id: str
    file: str
    old: str
    new: str
    key: str
    says: tuple[str, ...]
    line_needle: str | None = None  # the issue's line is the first line containing this text (None: no line)
    issue_file: str | None = None  # when the issue is reported in another file than the one edited


# fmt: off
BROKEN = [
    Broken("levels-not-increasing", "stations.yaml",
           "{I: 1.5, II: 2.3, III: 3.0}", "{I: 1.5, II: 1.2, III: 3.0}", "flood_stations[3].alarm_levels.II",
           ("NN-01", "I < II < III"), "II: 1.2"),
    Broken("level-three-not-above-two", "stations.yaml",
           "{I: 2.0, II: 3.0, III: 4.0}", "{I: 2.0, II: 3.0, III: 3.0}", "flood_stations[0].alarm_levels.III",
           ("NS-01",), "III: 3.0}"),
    Broken("hysteresis-too-wide", "stations.yaml", "hysteresis_m: 0.15", "hysteresis_m: 1.0",
           "flood_stations[0].hysteresis_m", ("NS-01", "smaller than"), "hysteresis_m: 1.0"),
    Broken("silent-before-expected", "stations.yaml", "silent_after_s: 1800", "silent_after_s: 200",
           "flood_stations[0].silent_after_s", ("NS-01", "expected_interval_s"), "silent_after_s: 200"),
    Broken("bad-dev-eui", "stations.yaml", "dev_eui: a84041000181c061", "dev_eui: a84041000181c06",
           "flood_stations[3].lorawan.dev_eui", ("pattern",), "dev_eui: a84041000181c06"),
    Broken("unknown-lorawan-model", "stations.yaml", "model: dragino-ldds75", "model: ldds75",
           "flood_stations[3].lorawan.model", ("dragino-ldds75",), "model: ldds75"),
    Broken("distance-sensor-without-height", "stations.yaml", ", mount_height_m: 5.0}", "}",
           "flood_stations[3].lorawan.model", ("a84041000181c061", "mount_height_m"),
           "model: dragino-ldds75"),
    Broken("auth-with-neither-token-nor-hmac", "stations.yaml",
           "auth: {token_env: IOC_STATION_TOKEN_MT_01}", "auth: {}",
           "flood_stations[1].auth", ("token_env, hmac_env",), "auth: {}"),
    Broken("dev-eui-used-twice", "stations.yaml", "    auth: {token_env: IOC_STATION_TOKEN_NS_01}\n",
           "    auth: {token_env: IOC_STATION_TOKEN_NS_01}\n"
           "    lorawan: {dev_eui: A84041000181C061, model: rain-pulses}\n",
           "flood_stations", ("'a84041000181c061'", "used twice"), "flood_stations:"),
    Broken("station-outside-vietnam", "stations.yaml", "lon: 103.2758", "lon: 100.5",
           "flood_stations[3].lon", ("greater than or equal",), "lon: 100.5"),
    Broken("unknown-area-code", "stations.yaml", 'area_code: "03194"', 'area_code: "03195"',
           "flood_stations[3].area_code", ("'03195'", "areas"), 'area_code: "03195"'),
    Broken("unquoted-code-loses-zero", "stations.yaml", 'area_code: "03194"', "area_code: 03194",
           "flood_stations[3].area_code", ("quotes",), "area_code: 03194"),
    Broken("unknown-key-with-suggestion", "stations.yaml",
           "    hysteresis_m: 0.2\n", "    hysterisis_m: 0.2\n",
           "flood_stations[1].hysterisis_m", ("did you mean 'hysteresis_m'",), "hysterisis_m"),
    Broken("unknown-section-with-suggestion", "stations.yaml", "flood_stations:", "flood_station:",
           "flood_station", ("did you mean 'flood_stations'",), "flood_station:"),
    Broken("unknown-key-in-tagged-channel", "channels.yaml", "brandname: IOC-DB", "brand: IOC-DB",
           "channels[2].brand", ("did you mean 'brandname'",), "brand: IOC-DB"),
    Broken("bad-phone", "roster.yaml", 'phone: "84388000102"', 'phone: "0388000102"',
           "roster.officers[2].phone", ("lo-thi-mai", "84xxxxxxxxx", "did you mean 84388000102"),
           "0388000102"),
    Broken("unknown-channel-of-officer", "roster.yaml", "channels: [sms-esms, sms-speedsms]",
           "channels: [sms-esms, sms-speedsm]", "roster.officers[1].channels[1]",
           ("vang-a-chua", "did you mean 'sms-speedsms'"), "sms-speedsm]"),
    Broken("shift-of-unknown-officer", "roster.yaml", "{officer: vang-a-chua, area_code: former-muong-cha",
           "{officer: vang-a-chu, area_code: former-muong-cha", "roster.shifts[1].officer", ("vang-a-chu",),
           "officer: vang-a-chu,"),
    Broken("unknown-level", "areas.yaml", "level: former_district", "level: district",
           "areas[1].level", ("'district'", "site.levels"), "level: district"),
    Broken("unknown-parent", "areas.yaml",
           'parent: "11"\n    geometry: geo/03181', 'parent: "12"\n    geometry: geo/03181',
           "areas[3].parent", ("03181", "'12'"), 'parent: "12"'),
    Broken("geometry-file-missing", "areas.yaml", "geo/03194_nam_nen.geojson", "geo/03194_nam_nem.geojson",
           "areas[5].geometry", ("03194", "not found"), "03194_nam_nem"),
    Broken("density-without-area", "cameras.yaml", "        area_m2: 150\n", "",
           "cameras[3].zones[0].thresholds.max_density_per_m2", ("ns-one-stop", "stage", "area_m2"),
           "max_density_per_m2: 0.25"),
    Broken("line-outside-frame", "cameras.yaml",
           "points: [[120, 140], [300, 140]]", "points: [[120, 140], [400, 140]]",
           "cameras[0].lines[0].points", ("ns-crossroads", "320x240"), "[400, 140]"),
    Broken("unknown-detector", "cameras.yaml", "detector: {name: onnx, confidence: 0.25}",
           "detector: {name: yolo, confidence: 0.25}",
           "cameras[0].detector.name", ("onnx",), "name: yolo"),
    Broken("bad-stream-url", "cameras.yaml", "source: sim:road-day", "source: ftp://127.0.0.1/cam",
           "cameras[2].source", ("pattern",), "ftp://"),
    Broken("simulated-station-unknown", "simulation.yaml", "NN-01: {", "NN-02: {",
           "simulation.stations.NN-02", ("NN-02", "flood_stations"), "NN-02:"),
    Broken("secret-in-file-instead-of-name", "channels.yaml", "IOC_WEBHOOK_SECRET", "s3cr3t-value",
           "channels[3].signing_secret_env", ("pattern",), "s3cr3t-value"),
    Broken("percent-target-over-100", "kpis.yaml", "target: 98\n", "target: 980\n",
           "kpis[0].target", ("dossiers_on_time_pct", "100"), "target: 980"),
    Broken("yaml-syntax-error", "cameras.yaml",
           "name: Quốc lộ 12 - đoạn qua trung tâm Na Sang", "name: Quốc lộ 12: đoạn qua trung tâm Na Sang",
           "", ("YAML syntax error",), "Quốc lộ 12: đoạn"),
    Broken("duplicate-yaml-key", "site.yaml", "  timezone: Asia/Ho_Chi_Minh\n",
           "  timezone: Asia/Ho_Chi_Minh\n  timezone: Asia/Bangkok\n", "", ("YAML syntax error",),
           "timezone: Asia/Bangkok"),
    Broken("unknown-timezone", "site.yaml", "timezone: Asia/Ho_Chi_Minh", "timezone: Asia/Hanoi",
           "site.timezone", ("Asia/Hanoi",), "Asia/Hanoi"),
    Broken("rule-metric-not-of-source", "alerts.yaml", "metric: rainfall_1h_mm", "metric: rainfall_1h",
           "alerts.rules[1].metric", ("rain-1h", "did you mean 'rainfall_1h_mm'"), "metric: rainfall_1h"),
    Broken("rule-unknown-reference", "alerts.yaml", "value: station.rainfall.mm_3h}",
           "value: station.rainfall.mm_6h}", "alerts.rules[2].condition.value",
           ("rain-3h", "did you mean 'station.rainfall.mm_3h'"), "station.rainfall.mm_6h"),
    Broken("rule-reference-unset-for-subject", "alerts.yaml", "subjects: [ns-one-stop/stage]\n"
           "      condition: {op: \">\", value: zone.thresholds.max_count}",
           "subjects: [ns-parking/no-parking]\n      condition: {op: \">\", value: zone.thresholds.max_count}",
           "alerts.rules[7].condition.value", ("overcrowded", "ns-parking/no-parking"),
           "value: zone.thresholds.max_count"),
    Broken("rule-unknown-subject", "alerts.yaml", "subjects: [ns-one-stop/stage]", "subjects: [ns-one-stop/stag]",
           "alerts.rules[7].subjects[0]", ("overcrowded", "did you mean 'ns-one-stop/stage'"),
           "subjects: [ns-one-stop/stag]"),
    Broken("rule-message-one-language", "alerts.yaml",
           '      message:\n        vi: "Trạm {station}: mưa {value} mm trong 1 giờ"\n'
           '        en: "Station {station}: {value} mm of rain in 1 hour"\n',
           '      message: {vi: "Mưa 1 giờ: {value} mm"}\n',
           "alerts.rules[1].message.en", ("'en'", "missing"), "Mưa 1 giờ"),
    Broken("rule-unknown-placeholder", "alerts.yaml", "mưa {value} mm trong 3 giờ", "mưa {amount} mm trong 3 giờ",
           "alerts.rules[2].message.vi", ("rain-3h", "{amount}"), "{amount}"),
    Broken("rule-severity-and-levels", "alerts.yaml", "      condition: {op: \">=\", levels: {warning: heavy",
           "      severity: critical\n      condition: {op: \">=\", levels: {warning: heavy",
           "alerts.rules[5].severity", ("congestion", "remove severity"), "severity: critical"),
    Broken("rule-category-unknown", "alerts.yaml", "{op: \"!=\", value: online}", "{op: \"!=\", value: up}",
           "alerts.rules[9].condition.value", ("offline", "online, offline"), "value: up}"),
    Broken("rule-unordered-category", "alerts.yaml", "{op: \"!=\", value: online}", "{op: \">\", value: online}",
           "alerts.rules[9].condition.op", ("offline", "== or !="), "value: online}"),
    Broken("rule-id-used-twice", "alerts.yaml", "- id: rain-3h", "- id: rain-1h",
           "alerts.rules", ("'rain-1h'", "twice"), "  rules:"),
    Broken("section-defined-twice", "site.yaml", "site:\n", "kpis: []\nsite:\n", "kpis", ("site.yaml",),
           "kpis:", issue_file="kpis.yaml"),
]
# fmt: on


@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_broken_config_points_at_file_line_and_key(site_copy: Path, case: Broken) -> None:
    edit(site_copy, case.file, case.old, case.new)
    issue = only_issue(validate_site(site_copy))
    issue_file = case.issue_file or case.file
    assert Path(issue.file).name == issue_file
    assert Path(issue.file).parent == site_copy
    assert issue.key == case.key
    expected_line = line_of(site_copy, issue_file, case.line_needle) if case.line_needle else None
    assert issue.line == expected_line
    for fragment in case.says:
        assert fragment in issue.message, issue.message
    with pytest.raises(ConfigError) as raised:
        load_site(site_copy)
    assert raised.value.issues == [issue]


def test_missing_file_is_reported(site_copy: Path) -> None:
    (site_copy / "kpis.yaml").unlink()
    issue = only_issue(validate_site(site_copy))
    assert issue.file == str(site_copy / "kpis.yaml")
    assert issue.line is None
    assert issue.key == "kpis"
    assert "missing" in issue.message


def test_misnamed_file_is_reported_with_the_right_name(site_copy: Path) -> None:
    (site_copy / "stations.yaml").rename(site_copy / "station.yaml")
    issues = validate_site(site_copy)
    assert {Path(i.file).name for i in issues} == {"stations.yaml", "station.yaml"}
    assert any("did you mean stations.yaml" in i.message for i in issues)


def test_missing_site_path_is_reported(tmp_path: Path) -> None:
    issue = only_issue(validate_site(tmp_path / "nowhere"))
    assert "nowhere" in issue.file


def test_every_issue_is_listed_not_just_the_first(site_copy: Path) -> None:
    edit(site_copy, "roster.yaml", 'phone: "84388000102"', 'phone: "+84 388 000 102"')
    edit(site_copy, "stations.yaml", "    hysteresis_m: 0.2\n", "    hysterisis_m: 0.2\n")
    edit(site_copy, "cameras.yaml", "sample_fps: 5", "sample_fps: 0")
    keys = {i.key for i in validate_site(site_copy)}
    assert keys == {"roster.officers[2].phone", "flood_stations[1].hysterisis_m", "cameras[0].sample_fps"}


def test_missing_required_key_points_at_its_parent(site_copy: Path) -> None:
    edit(site_copy, "stations.yaml", "    auth: {token_env: IOC_STATION_TOKEN_MT_01}\n", "")
    issue = only_issue(validate_site(site_copy))
    assert issue.key == "flood_stations[1].auth"
    assert issue.line == line_of(site_copy, "stations.yaml", "- id: MT-01")
    assert "missing" in issue.message


def test_secret_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_TEST_SECRET", "value-1")
    assert secret("IOC_TEST_SECRET", os.environ) == "value-1"


def test_secret_unset_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOC_TEST_SECRET", raising=False)
    with pytest.raises(ConfigError) as raised:
        secret("IOC_TEST_SECRET", os.environ)
    issue = only_issue(raised.value.issues)
    assert issue.key == "IOC_TEST_SECRET"
    assert "IOC_TEST_SECRET" in issue.message


def test_unset_secret_points_at_the_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    site = load_site(SAMPLE)
    for _, name in env_references(site):
        monkeypatch.setenv(name, "set-for-test")
    monkeypatch.delenv("IOC_WEBHOOK_SECRET")
    issue = only_issue(missing_secrets(SAMPLE, os.environ))
    assert issue.file == str(SAMPLE / "channels.yaml")
    assert issue.line == line_of(SAMPLE, "channels.yaml", "IOC_WEBHOOK_SECRET")
    assert issue.key == "channels[3].signing_secret_env"


def test_config_holds_no_secret_values() -> None:
    site = load_site(SAMPLE)
    names = [name for _, name in env_references(site)]
    assert names and all(name.startswith("IOC_") and name.isupper() for name in names)
    # Regression guard: a value pasted where a variable name belongs must be refused, not loaded.
    text = "\n".join(p.read_text(encoding="utf-8") for p in SAMPLE.glob("*.yaml"))
    # (password_env, naming the e-mail channel's variable, is allowed; a key "password:" is not)
    assert "token:" not in text and "password:" not in text.lower()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (lambda tmp: str(tmp), lambda tmp: tmp),
        (None, lambda tmp: SAMPLE),
    ],
    ids=["from-IOC_SITE", "repository-default"],
)
def test_default_site_path(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    env: Callable[[Path], str] | None,
    expected: Callable[[Path], Path],
) -> None:
    chosen = None if env is None else Path(env(tmp_path))  # Settings.site, from IOC_SITE
    assert default_site_path(chosen) == expected(tmp_path)
