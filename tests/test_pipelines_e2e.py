"""Materialize the whole asset graph through Dagster on a small simulated market: the
champion is registered and promoted in MLflow with its plots, and every check passes."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from csx_pipelines.definitions import build_definitions
from csx_pipelines.registry import ModelRegistry

pytestmark = pytest.mark.slow
DAY = "2026-01-01"
SYMBOLS = 12  # top-K precision needs more symbols than K (5)


def test_materialize_every_asset(tmp_path: Path) -> None:
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    defs = build_definitions(str(tmp_path / "data"), tracking)
    job = defs.resolve_job_def("training_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            partition_key=DAY,
            instance=instance,
            raise_on_error=False,
            run_config={"ops": {"market_events": {"config": {"sim_symbols": SYMBOLS}}}},
        )
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert result.success, checks
        materialized = {
            e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()
            if e.asset_key
        }
    assert set(materialized) == {
        "market_events",
        "feature_snapshots",
        "labels",
        "training_dataset",
        "trained_model",
        "calibrated_model",
        "backtest_report",
        "registered_model",
        "champion",
    }
    assert all(checks.values()), checks
    assert "data:image/png;base64," in materialized["backtest_report"]["plots"].value
    assert materialized["champion"]["promoted"].value is True

    registry = ModelRegistry(tracking)
    version = registry.champion()
    assert version is not None
    info = {v.version: v for v in registry.versions()}[version]
    assert {"data_digest", "code_version", "cost_model_version", "feature_version"} <= set(
        info.tags
    )
    package = registry.download("champion", tmp_path / "champion")
    manifest = json.loads((package / "MANIFEST.json").read_text())
    assert "model.txt" in json.dumps(manifest)
    from csx_core.ml.package import load_package

    assert load_package(package).feature_version == info.tags["feature_version"]
