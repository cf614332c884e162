"""The Grafana dashboards in monitoring/grafana/dashboards/: valid JSON with panels laid out
without overlap, on the provisioned data source, covering what on-call needs, and every
PromQL expression parses (promtool) and selects only metrics the code exports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_metrics_labels import exported_series_names, metric_names_in
from tests.tooling import require_tool

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = sorted((ROOT / "monitoring" / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = ROOT / "monitoring" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROMETHEUS_OWN = {"ALERTS"}
"""Series Prometheus itself produces (firing/pending alerts)."""


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in dashboard["panels"]:
        out.extend(p.get("panels", []) if p["type"] == "row" else [p])
    return out


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]


def test_there_is_a_dashboard() -> None:
    assert DASHBOARDS, "no dashboard JSON in monitoring/grafana/dashboards/"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_structure(path: Path) -> None:
    d = load(path)
    assert d["uid"]
    assert d["title"]
    shown = panels(d)
    assert len(shown) >= 12
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    provisioned = {s["uid"] for s in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    for p in shown:
        assert p["title"], p
        assert p["targets"], f"panel {p['title']!r} has no query"
        assert p["datasource"]["uid"] in provisioned
        assert all(t["datasource"]["uid"] in provisioned for t in p["targets"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_do_not_overlap(path: Path) -> None:
    boxes = [(p["title"], p["gridPos"]) for p in load(path)["panels"]]
    for i, (a_title, a) in enumerate(boxes):
        assert a["x"] >= 0, a_title
        assert a["x"] + a["w"] <= 24, a_title
        for b_title, b in boxes[i + 1 :]:
            apart = (
                a["x"] + a["w"] <= b["x"]
                or b["x"] + b["w"] <= a["x"]
                or a["y"] + a["h"] <= b["y"]
                or b["y"] + b["h"] <= a["y"]
            )
            assert apart, f"{a_title!r} overlaps {b_title!r}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_uses_only_exported_metrics(path: Path) -> None:
    known = exported_series_names() | PROMETHEUS_OWN
    for expr in expressions(load(path)):
        used = metric_names_in(expr) | ({"ALERTS"} if "ALERTS{" in expr else set())
        assert used, expr
        assert used <= known, f"{expr}: unknown {used - known}"


def test_the_live_dashboard_covers_the_on_call_topics() -> None:
    text = "\n".join(expressions(load(ROOT / "monitoring/grafana/dashboards/csx-live.json")))
    for needed in (
        "csx_ws_frames_received_total",  # ingest rate
        "csx_queue_dropped_total",  # drops
        "csx_ws_reconnects_total",  # reconnects
        "csx_tick_duration_seconds_bucket",  # tick latency
        "csx_rank_events_total",  # top-K churn
        "csx_model_info",  # model version
        "ALERTS{",  # firing alerts
        "csx_llm_fallbacks_total",  # LLM
    ):
        assert needed in text, needed


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_parses(path: Path, tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule (Grafana variables substituted)."""
    tool = require_tool("promtool", "prometheus")
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$instance", ".*")}
        for i, expr in enumerate(expressions(load(path)))
    ]
    file = tmp_path / "queries.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        [tool, "check", "rules", str(file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout
