"""Fan-out on a real Dagster instance: ``dagster dev`` (webserver + daemon) on 127.0.0.1
backfills three daily partitions of ``market_events`` through the GraphQL API, one run per
day under the run queue's backfill limit, each run's steps in their own processes (the
multiprocess executor chosen by ``CSX_EXECUTOR``); then ``training_job`` trains over all
three days."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType

from csx_pipelines.instance import MAX_BACKFILL_RUNS, dagster_home, platform_env
from tests.conftest import REPO_ROOT
from tests.servers import free_port, server_process
from tests.test_dagster_webserver import LAUNCH, STATUS, graphql

pytestmark = pytest.mark.slow

DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"]
SYMBOLS = 8  # the top-K gates need more symbols than K (5); few keep the days small
MAX_STEP_PROCESSES = 2

BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionKeysNotFoundError { message }
  }
}"""
BACKFILL_STATUS = """
query BackfillStatus($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename ... on PartitionBackfill { status }
  }
}"""
BACKFILL_RUNS = """
query BackfillRuns($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}) {
    ... on Runs { results { runId status startTime endTime tags { key value } } }
  }
}"""
DONE_RUN = {"SUCCESS", "FAILURE", "CANCELED"}
DONE_BACKFILL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def wait_for(poll: Callable[[], str], done: set[str], *, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    status = poll()
    while status not in done and time.monotonic() < deadline:
        time.sleep(1.0)
        status = poll()
    return status


def most_at_once(runs: list[dict[str, Any]]) -> int:
    """The largest number of runs that were executing at the same instant."""
    edges = sorted(
        [(r["startTime"], 1) for r in runs] + [(r["endTime"], -1) for r in runs],
        key=lambda edge: (edge[0], edge[1]),  # an end before a start at the same instant
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_backfill_fans_out_then_training_covers_every_day(tmp_path: Path) -> None:
    data = tmp_path / "data"
    home = dagster_home(data)  # with the project's dagster.yaml (run queue limits)
    port = free_port()
    log = tmp_path / "dagster-dev.log"
    argv = [
        str(Path(sys.executable).parent / "dagster"),
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    env = {
        **platform_env(data),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "CSX_EXECUTOR": "multiprocess",
        "CSX_MAX_CONCURRENT": str(MAX_STEP_PROCESSES),
    }
    with server_process(
        argv, ready_url=f"http://127.0.0.1:{port}/server_info", log=log, env=env, timeout=180
    ):
        params = {
            "assetSelection": [{"path": ["market_events"]}],
            "partitionNames": DAYS,
            "runConfigData": {"ops": {"market_events": {"config": {"sim_symbols": SYMBOLS}}}},
            "title": "three market days",
        }
        launched = graphql(port, BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        def backfill_status() -> str:
            answer = graphql(port, BACKFILL_STATUS, {"id": backfill_id})
            return str(answer["partitionBackfillOrError"]["status"])

        status = wait_for(backfill_status, DONE_BACKFILL, timeout=600)
        assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, log.read_text()[-3000:]
        tags = [{"key": "dagster/backfill", "value": backfill_id}]
        runs = graphql(port, BACKFILL_RUNS, {"tags": tags})["runsOrError"]["results"]

        # Then the training job over everything stored: every asset but the market days.
        selection = [
            {"path": [name]}
            for name in (
                "feature_snapshots",
                "labels",
                "training_dataset",
                "trained_model",
                "calibrated_model",
                "backtest_report",
                "registered_model",
                "champion",
            )
        ]
        training = {
            "selector": {
                "repositoryLocationName": "cryptoscreener_x",
                "repositoryName": "__repository__",
                "jobName": "training_job",
                "assetSelection": selection,
            },
        }
        launched_run = graphql(port, LAUNCH, {"params": training})["launchRun"]
        assert launched_run["__typename"] == "LaunchRunSuccess", launched_run
        training_id = launched_run["run"]["runId"]

        def run_status() -> str:
            return str(graphql(port, STATUS, {"id": training_id})["runOrError"]["status"])

        training_status = wait_for(run_status, DONE_RUN, timeout=600)
        assert training_status == "SUCCESS", log.read_text()[-3000:]

    # One run per day, each a separate run that succeeded.
    assert len(runs) == len(DAYS)
    assert len({r["runId"] for r in runs}) == len(DAYS)
    assert all(r["status"] == "SUCCESS" for r in runs), runs
    partitions = sorted(
        t["value"] for r in runs for t in r["tags"] if t["key"] == "dagster/partition"
    )
    assert partitions == DAYS
    # They ran in parallel, and never more at once than the queue's backfill limit.
    assert most_at_once(runs) == MAX_BACKFILL_RUNS, runs

    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in runs:
            # The multiprocess executor: every step in a subprocess of the run worker.
            (run_start,) = instance.all_logs(run["runId"], of_type=DagsterEventType.RUN_START)
            step_starts = instance.all_logs(run["runId"], of_type=DagsterEventType.STEP_START)
            step_pids = {e.dagster_event.pid for e in step_starts if e.dagster_event}
            assert len(step_starts) >= 2  # market_events and its checks
            assert run_start.dagster_event is not None
            assert run_start.dagster_event.pid not in step_pids
            assert len(step_pids) == len(step_starts)
        market = instance.fetch_materializations(dg.AssetKey("market_events"), limit=10).records
        features = instance.get_latest_materialization_event(dg.AssetKey("feature_snapshots"))
    market_rows: dict[str, dict[str, int]] = {
        str(r.partition_key): dict(r.asset_materialization.metadata["rows"].value)  # type: ignore[arg-type]
        for r in market
        if r.asset_materialization
    }
    assert sorted(market_rows) == DAYS
    # The training run replayed every event of every backfilled day: all of them but the
    # klines, which the replay drops for symbols that trade (every simulated one does).
    assert features is not None
    assert features.asset_materialization is not None
    replayed = features.asset_materialization.metadata
    assert replayed["files"].value == [f"date={day}/features.parquet" for day in DAYS]
    expected = sum(
        n for rows in market_rows.values() for kind, n in rows.items() if kind != "kline"
    )
    assert replayed["events"].value == expected
