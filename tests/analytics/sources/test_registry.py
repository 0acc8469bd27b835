"""The alert-source registry: every module of analytics/sources registers one source, the processor routes by event
type to their stages, and the core config never imports analytics."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import analytics.sources
from analytics.alerts import AlertProcessor
from analytics.binding import alert_setup
from analytics.sources import SOURCES, AlertSource, register, stages
from analytics.sources.traffic import ZoneStage
from ioc.config import load_site
from ioc.config.models import ALERT_METRICS
from ioc.config.models import AlertSource as RuleSourceName
from ioc.events import LineCrossing

SAMPLE = Path(__file__).resolve().parents[3] / "configs" / "muong-cha"
REPO = SAMPLE.parents[1]


def test_every_module_registers_its_source() -> None:
    modules = {m.name for m in pkgutil.iter_modules(analytics.sources.__path__)} - {"base"}
    by_module = {cls.__module__.rsplit(".", 1)[1] for cls in SOURCES.values()}
    assert by_module == modules
    assert all(SOURCES[name].type == name for name in SOURCES)


def test_registering_another_class_under_a_taken_type_fails() -> None:
    flood = SOURCES["flood"]
    impostor = type("Impostor", (flood,), {})

    with pytest.raises(ValueError, match="registered twice"):
        register(impostor)
    assert SOURCES["flood"] is flood


@pytest.mark.parametrize("source", typing.get_args(RuleSourceName))
def test_sources_of_alert_rules_agree_with_the_config_checks(source: str) -> None:
    """alerts.yaml rules are checked by the core config (ALERT_METRICS, alert_subjects); the sources bind them."""
    site = load_site(SAMPLE)
    cls: type[AlertSource] = SOURCES[source]
    assert cls.metrics == ALERT_METRICS.get(source, ())
    metric = site.kpis[0].id if source == "kpi" else (cls.metrics[0] if cls.metrics else "")
    assert [s for s, _ in cls.subjects(site, metric)] == [s for s, _ in site.alert_subjects(source, metric)]


def test_traffic_and_crowd_share_one_zone_stage() -> None:
    assert [s for s in stages() if s is ZoneStage] == [ZoneStage]
    assert SOURCES["traffic"].stages == SOURCES["crowd"].stages == (ZoneStage,)


def test_an_event_no_source_reads_gives_nothing() -> None:
    proc = AlertProcessor(alert_setup(load_site(SAMPLE), None))
    crossing = LineCrossing.model_validate({
        "event_id": "00000000-0000-4000-8000-000000000001", "camera_id": "ns-one-stop", "line_id": "l1",
        "track_id": 1, "object_class": "car", "direction": "in", "crossed_at": "2026-09-14T06:00:00+00:00",
    })
    before = proc.state()
    assert proc.handle(crossing) == []
    assert proc.state() == before


def test_the_core_config_imports_no_analytics() -> None:
    """Layering: ioc.config loads a site (its sources section kept as data) without importing analytics."""
    code = (
        "import sys\nfrom ioc.config import load_site\n"
        f"site = load_site({str(SAMPLE)!r})\n"
        "assert 'rain_gauge' in site.sources\n"
        "print(sorted(m for m in sys.modules if m == 'analytics' or m.startswith('analytics.')))\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
