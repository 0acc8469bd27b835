"""The citizens' reports section (reports.yaml): the sample's table, and mistakes reported at their file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from ioc.config import load_site, validate_site
from ioc.config.models import ReportIntake
from ioc.errors import ConfigIssue

SAMPLE = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"
ISSUE_CATEGORIES = [
    "traffic",
    "flooding_landslide",
    "environment_sanitation",
    "public_order",
    "infrastructure_lighting",
    "administrative_procedure",
    "other",
]


@pytest.fixture
def site_copy(tmp_path: Path) -> Path:
    target = tmp_path / "muong-cha"
    shutil.copytree(SAMPLE, target)
    return target


def edit(site: Path, name: str, old: str, new: str) -> None:
    path = site / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}: the sample changed, update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(site: Path, name: str, needle: str) -> int:
    for number, line in enumerate((site / name).read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {name}")


def only_issue(issues: list[ConfigIssue]) -> ConfigIssue:
    assert len(issues) == 1, "\n".join(str(i) for i in issues)
    return issues[0]


def test_the_sample_has_the_issue_categories_and_a_unit_for_every_commune() -> None:
    site = load_site(SAMPLE)
    reports = site.reports
    assert reports is not None
    assert [c.id for c in reports.categories] == ISSUE_CATEGORIES
    assert all(c.name and c.name_en for c in reports.categories)
    assert set(reports.commune_units) == site.report_communes() == {"03172", "03181", "03193", "03194", "03202"}
    assert reports.category("public_order").unit == "cong-an-tinh"
    assert reports.unit("cong-an-tinh").area_code == "11"


def test_an_unknown_unit_is_pointed_at(site_copy: Path) -> None:
    edit(site_copy, "reports.yaml", "unit: cong-an-tinh", "unit: cong-an-tnh")
    issue = only_issue(validate_site(site_copy))
    assert issue.file.endswith("reports.yaml")
    assert issue.line == line_of(site_copy, "reports.yaml", "unit: cong-an-tnh")
    assert "'cong-an-tnh' is not declared in reports.units (did you mean 'cong-an-tinh'?)" in issue.message


def test_a_commune_without_its_committee_is_pointed_at(site_copy: Path) -> None:
    edit(site_copy, "reports.yaml", '    "03194": ubnd-nam-nen\n', "")
    issues = validate_site(site_copy)
    # every category routed to the commune's committee names the commune left without one
    assert len(issues) == 6
    assert all("commune 03194 has no unit" in i.message and i.file.endswith("reports.yaml") for i in issues)
    assert issues[0].line == line_of(site_copy, "reports.yaml", "id: traffic")


def test_a_commune_unit_for_an_area_that_is_not_a_commune(site_copy: Path) -> None:
    last = '    "03202": ubnd-muong-pon\n'
    edit(site_copy, "reports.yaml", last, last + '    "11": cong-an-tinh\n')
    issue = only_issue(validate_site(site_copy))
    assert issue.key == "reports.commune_units.11"
    assert issue.line == line_of(site_copy, "reports.yaml", '"11": cong-an-tinh')


def test_reports_need_the_working_calendar(site_copy: Path) -> None:
    (site_copy / "calendar.yaml").unlink()
    issue = only_issue(validate_site(site_copy))
    assert issue.key == "reports" and "calendar.yaml" in issue.message


def test_a_deadline_out_of_range(site_copy: Path) -> None:
    edit(site_copy, "reports.yaml", "deadline_working_days: 2", "deadline_working_days: 0")
    issue = only_issue(validate_site(site_copy))
    assert issue.line == line_of(site_copy, "reports.yaml", "deadline_working_days: 0")


def test_photos_must_fit_in_the_body_limit() -> None:
    with pytest.raises(ValidationError, match="do not fit"):
        ReportIntake(max_photos=3, max_photo_bytes=1024 * 1024, max_body_bytes=2 * 1024 * 1024)
