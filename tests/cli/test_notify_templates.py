"""Regression: the ``worker notify`` process could not render rule or KPI alert messages (unknown_template).

The sender renders an alert's ``message_key`` from its own process's catalog. Rule messages (``alert.rule.*``)
are registered when the alert rules are built and KPI messages (``alert.kpi.*``) when ``analytics.kpi`` is
imported; the notify worker did neither, so in the distributed runtime every rain, fast-rise, silent-station,
camera and KPI alert message ended 'failed' (found by ``ioc bench soak``). A fresh interpreter stands in for
the worker process, whose catalog starts empty of them.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO, SITE_DIR


def test_the_notify_worker_renders_rule_and_kpi_alert_messages() -> None:
    code = """
import sys
from ioc import i18n
from ioc.app.cli.common import load_site
from ioc.notify.render import strict_text
from ioc.errors import InvalidInput

runtime = load_site(sys.argv[1], "vi")
# The alert sources' own strings (alert.kpi.*) are registered when the site binding imports them; the rule messages
# only when the rules are built, which a notify worker does not do by itself.
assert not [k for k in i18n.catalog() if k.startswith("alert.rule.")], "the test needs a process without the rules"
runtime.register_alert_templates()
keys = [k for k in i18n.catalog() if k.startswith(("alert.rule.", "alert.kpi."))]
assert any(k.startswith("alert.rule.rain-1h.") for k in keys), keys
assert "alert.kpi.below_target" in keys and "alert.kpi.missing_report" in keys, keys
for key in keys:
    try:
        strict_text(key, "vi", {})
    except InvalidInput as exc:
        assert exc.reason == "template_variable_missing", (key, exc.reason)
print(len(keys))
"""
    done = subprocess.run([sys.executable, "-c", code, str(SITE_DIR)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) >= 10
