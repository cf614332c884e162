"""A real ``dagster dev`` (webserver + daemon) on 127.0.0.1: launch ``training_job`` through
the GraphQL API and wait for the run to succeed."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.servers import free_port, server_process

pytestmark = pytest.mark.slow

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
STATUS = """
query Status($id: ID!) {
  runOrError(runId: $id) { __typename ... on Run { status } }
}"""
CHECKS = """
query Checks($id: ID!) {
  runOrError(runId: $id) {
    ... on Run { assetMaterializations { assetKey { path } } }
  }
}"""


def graphql(port: int, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        payload: dict[str, Any] = json.loads(response.read())
    assert "errors" not in payload, payload
    return payload["data"]


def test_launch_training_job_through_graphql(tmp_path: Path) -> None:
    port = free_port()
    bin_dir = Path(sys.executable).parent
    home = tmp_path / "dagster_home"
    home.mkdir()
    argv = [
        str(bin_dir / "dagster"),
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    env = {
        "DAGSTER_HOME": str(home),
        "CSX_DATA_DIR": str(tmp_path / "data"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    with server_process(
        argv,
        ready_url=f"http://127.0.0.1:{port}/server_info",
        log=tmp_path / "dagster-dev.log",
        env=env,
        timeout=180,
    ):
        params = {
            "selector": {
                "repositoryLocationName": "cryptoscreener_x",
                "repositoryName": "__repository__",
                "jobName": "training_job",
                "assetSelection": [{"path": ["market_events"]}],
            },
            "runConfigData": {"ops": {"market_events": {"config": {"sim_symbols": 2}}}},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2026-01-01"}]},
        }
        launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        deadline = time.monotonic() + 300
        status = "QUEUED"
        while time.monotonic() < deadline:
            status = graphql(port, STATUS, {"id": run_id})["runOrError"]["status"]
            if status in {"SUCCESS", "FAILURE", "CANCELED"}:
                break
            time.sleep(1.0)
        assert status == "SUCCESS", (tmp_path / "dagster-dev.log").read_text()[-3000:]
        run = graphql(port, CHECKS, {"id": run_id})["runOrError"]
        assert {"path": ["market_events"]} in [m["assetKey"] for m in run["assetMaterializations"]]
    assert (tmp_path / "data" / "events" / "kind=trade" / "date=2026-01-01").is_dir()
