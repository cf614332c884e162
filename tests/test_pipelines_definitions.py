"""The Dagster code location loads with every asset, check, job and schedule."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import dagster as dg
import pytest

from csx_pipelines.definitions import defs

ASSETS = {
    "market_events",
    "feature_snapshots",
    "labels",
    "training_dataset",
    "trained_model",
    "calibrated_model",
    "backtest_report",
    "registered_model",
    "champion",
    "champion_backtest",
    "soak_summary",
}
BLOCKING = {
    "market_events_schema",
    "market_events_monotone_and_unique",
    "features_nan_and_staleness",
    "replay_determinism",
    "split_has_no_leakage",
    "calibration_ece_within_bound",
    "model_beats_baseline",
    "soak_within_thresholds",
}


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)


def test_every_stage_is_an_asset_in_its_group() -> None:
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) == ASSETS
    assert specs["market_events"].partitions_def is not None
    groups = {name: spec.group_name for name, spec in specs.items()}
    assert groups["market_events"] == "market_data"
    assert groups["champion"] == "registry"
    assert groups["calibrated_model"] == "training"


def test_checks_that_must_stop_the_line_are_blocking() -> None:
    checks = {spec.name: spec for check in defs.asset_checks or [] for spec in check.check_specs}
    assert set(checks) >= BLOCKING
    assert all(checks[name].blocking for name in BLOCKING)
    assert not checks["market_events_gaps"].blocking


def test_jobs_and_schedules() -> None:
    training = defs.resolve_job_def("training_job")
    assert {k.to_user_string() for k in training.asset_layer.executable_asset_keys} == (
        ASSETS - {"champion_backtest", "soak_summary"}
    )
    schedules = {
        s.job_name: s for s in defs.schedules or [] if isinstance(s, dg.ScheduleDefinition)
    }
    assert set(schedules) == {"nightly_backtest_job", "nightly_soak_job"}


def test_backfill_runs_use_the_configured_executor_and_training_stays_in_process() -> None:
    from csx_pipelines.definitions import build_definitions

    for name, expected in (("multiprocess", "csx_multiprocess"), ("in_process", "in_process")):
        built = build_definitions("data", "", executor=name, max_concurrent=3)
        # A backfill of an asset runs the implicit asset job, which takes the location's executor.
        assert built.resolve_implicit_global_asset_job_def().executor_def.name == expected
        assert built.resolve_job_def("training_job").executor_def.name == "in_process"


def test_multiprocess_executor_is_bounded() -> None:
    from csx_pipelines.executors import executor_for

    executor = executor_for("multiprocess", max_concurrent=3)
    assert executor.name == "csx_multiprocess"
    resolved = executor.apply_config_mapping({})
    assert resolved.success
    assert resolved.value is not None
    assert resolved.value["config"]["max_concurrent"] == 3


@pytest.mark.parametrize("raw", ["0", "-2", "two", ""])
def test_bad_step_concurrency_names_its_variable(raw: str) -> None:
    from csx_pipelines.executors import ExecutorConfigError, parse_max_concurrent

    with pytest.raises(ExecutorConfigError, match="CSX_MAX_CONCURRENT"):
        parse_max_concurrent(raw)


def test_unknown_executor_names_its_variable_and_the_choices() -> None:
    from csx_pipelines.executors import ExecutorConfigError, executor_for

    with pytest.raises(ExecutorConfigError, match="CSX_EXECUTOR must be one of in_process"):
        executor_for("celery", max_concurrent=2)


def test_k8s_executor_without_dagster_k8s_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from csx_pipelines.executors import ExecutorConfigError, executor_for

    monkeypatch.setitem(sys.modules, "dagster_k8s", None)  # import fails as if not installed
    with pytest.raises(ExecutorConfigError, match="CSX_EXECUTOR=k8s needs the dagster-k8s"):
        executor_for("k8s", max_concurrent=2)


def test_k8s_executor_is_dagster_k8s_job_executor_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from csx_pipelines.executors import executor_for

    # A stand-in module: dagster-k8s pins an older dagster, so it is not in this environment.
    fake = types.ModuleType("dagster_k8s")
    fake.k8s_job_executor = dg.multiprocess_executor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dagster_k8s", fake)
    executor = executor_for("k8s", max_concurrent=4)
    assert executor.name == "csx_k8s"
    resolved = executor.apply_config_mapping({})
    assert resolved.success
    assert resolved.value is not None
    assert resolved.value["config"]["max_concurrent"] == 4


def test_the_code_location_refuses_an_unknown_executor() -> None:
    env = {**os.environ, "CSX_EXECUTOR": "threads"}
    result = subprocess.run(
        [sys.executable, "-c", "import csx_pipelines.definitions"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "CSX_EXECUTOR must be one of in_process, multiprocess, k8s; got 'threads'" in (
        result.stderr
    )


def test_local_instance_queues_backfill_runs_under_a_limit(tmp_path: Path) -> None:
    from csx_pipelines.instance import MAX_BACKFILL_RUNS, MAX_CONCURRENT_RUNS, dagster_home

    with dg.DagsterInstance.from_config(str(dagster_home(tmp_path))) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        assert queue.max_concurrent_runs == MAX_CONCURRENT_RUNS
        assert queue.tag_concurrency_limits == [
            {"key": "dagster/backfill", "limit": MAX_BACKFILL_RUNS}
        ]
    assert 1 < MAX_BACKFILL_RUNS < MAX_CONCURRENT_RUNS


def test_the_packaged_workspace_is_the_repos_workspace_yaml() -> None:
    from csx_pipelines.commands.ui import WORKSPACE_YAML

    repo_file = Path(__file__).resolve().parents[1] / "workspace.yaml"
    assert repo_file.read_text() == WORKSPACE_YAML


def test_asset_values_carry_their_types() -> None:
    from csx_pipelines.assets import training

    outs = {
        asset.key.to_user_string(): asset.op.outs["result"].dagster_type.display_name
        for asset in (
            training.labels,
            training.training_dataset,
            training.trained_model,
            training.calibrated_model,
            training.backtest_report,
        )
    }
    assert outs == {
        "labels": "Table",
        "training_dataset": "Dataset",
        "trained_model": "[TrainedFold]",
        "calibrated_model": "[FittedFold]",
        "backtest_report": "BacktestResult",
    }
