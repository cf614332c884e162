"""The Dagster code location loads with every asset, check, job and schedule."""

from __future__ import annotations

import dagster as dg

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
    schedules = {s.job_name: s for s in defs.schedules or []}
    assert set(schedules) == {"nightly_backtest_job", "nightly_soak_job"}
