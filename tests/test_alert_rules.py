"""monitoring/alert_rules.yml: promtool validates it and runs its unit tests
(monitoring/alert_rules_test.yml), every alert has a severity, a runbook that exists and
names it, a unit test that both fires and stays quiet, and selects only metrics the code
exports."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_metrics_labels import exported_series_names, metric_names_in
from tests.tooling import require_tool

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "monitoring" / "alert_rules.yml"
RULE_TESTS = ROOT / "monitoring" / "alert_rules_test.yml"
SEVERITIES = {"critical", "warning", "info"}


def alerts() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text())
    return [rule for group in data["groups"] for rule in group["rules"] if "alert" in rule]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("promtool", "prometheus")
    return subprocess.run(
        [tool, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


def test_promtool_check_rules() -> None:
    done = _promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = _promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests are sensitive: loosening one threshold makes the healthy target fire."""
    broken = RULES.read_text().replace(
        "increase(csx_ws_reconnects_total[10m]) > 6", "increase(csx_ws_reconnects_total[10m]) > 3"
    )
    assert broken != RULES.read_text()
    (tmp_path / "alert_rules.yml").write_text(broken)
    (tmp_path / "alert_rules_test.yml").write_text(RULE_TESTS.read_text())
    done = _promtool("test", "rules", str(tmp_path / "alert_rules_test.yml"))
    assert done.returncode != 0
    assert 'instance="good"' in done.stdout + done.stderr


def test_at_least_sixteen_uniquely_named_alerts() -> None:
    names = [a["alert"] for a in alerts()]
    assert len(names) >= 16
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_alert_has_severity_and_an_existing_runbook_that_names_it(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in SEVERITIES
    assert {"summary", "description", "runbook_url"} <= set(alert["annotations"])
    path, _, anchor = alert["annotations"]["runbook_url"].partition("#")
    assert path.startswith("docs/runbooks/")
    runbook = ROOT / path
    assert runbook.is_file(), f"{path} missing"
    headings = [line.lstrip("#").strip() for line in runbook.read_text().splitlines()]
    assert anchor == alert["alert"].lower()
    assert alert["alert"] in headings, f"{path} has no heading '## {alert['alert']}'"


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_alert_selects_only_exported_metrics(alert: dict[str, Any]) -> None:
    used = metric_names_in(alert["expr"])
    assert used, alert["expr"]
    unknown = used - exported_series_names()
    assert not unknown, f"{alert['alert']} uses metrics the code does not export: {unknown}"


def test_every_alert_has_a_unit_test_that_fires_and_one_that_stays_quiet() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            got = check.get("exp_alerts") or []
            (fires if got else quiet).add(check["alertname"])
            healthy = [a for a in got if a["exp_labels"].get("instance") == "good"]
            assert not healthy, f"{check['alertname']}: the healthy target must stay quiet"
    names = {a["alert"] for a in alerts()}
    assert names - fires == set(), "alerts without a firing test"
    assert names - quiet == set(), "alerts without a quiet test"
