"""The platform's blocking checks stop what they must: a leaky split, an uncalibrated model,
a model that does not beat the baseline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from csx_core.ml.calibration import Calibrator
from csx_core.ml.splits import audit_folds
from csx_core.ml.synthetic import synthetic_feature_table
from csx_core.ml.train import TrainConfig, build_dataset, calibrate_fold, train_fold
from csx_pipelines.assets import training
from csx_pipelines.promotion import CALIBRATION_CHECK_MAX_ECE
from csx_pipelines.stages import train_config


def synthetic_config(root: Path) -> TrainConfig:
    config = train_config(
        root, horizon_s=60, threshold_bps=-4.0, n_folds=1, embargo_s=10, calibration="platt"
    )
    # the synthetic table names its quote-volume feature differently
    return dataclasses.replace(
        config, labels=dataclasses.replace(config.labels, volume_feature="quote_vol_60s")
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, list[object]]:
    config = synthetic_config(tmp_path_factory.mktemp("lake"))
    ds = build_dataset(synthetic_feature_table(n_symbols=12, n_ticks=5000, seed=0), config)
    trained = [train_fold(ds, fold, config) for fold in ds.folds]
    return ds, [calibrate_fold(ds, t, config) for t in trained]


def check_specs() -> dict[str, dg.AssetCheckSpec]:
    return {
        spec.name: spec
        for check in (
            training.split_has_no_leakage,
            training.calibration_ece_within_bound,
            training.model_beats_baseline,
        )
        for spec in check.check_specs
    }


def test_the_training_checks_are_blocking() -> None:
    assert all(spec.blocking for spec in check_specs().values())


def test_an_honest_split_passes_and_a_leaky_one_is_stopped(fitted: tuple) -> None:
    ds, _ = fitted
    assert training.split_has_no_leakage(training_dataset=ds).passed
    ts = np.asarray(ds.table.column("ts").to_numpy())
    end = np.asarray(ds.table.column("label_end_ts").to_numpy())
    fold = ds.folds[0]
    calib_start = int(ts[fold.calib].min())
    # put a training row whose label window runs into the calibration segment back in
    leaking = np.flatnonzero((ts < calib_start) & (end >= calib_start))
    leaking = leaking[~np.isin(leaking, fold.train)][:1]
    leaky_fold = dataclasses.replace(fold, train=np.sort(np.append(fold.train, leaking)))
    leaky = dataclasses.replace(ds, folds=[leaky_fold], audit=audit_folds([leaky_fold], ts, end))
    result = training.split_has_no_leakage(training_dataset=leaky)
    assert not result.passed


def test_a_miscalibrated_model_is_stopped(fitted: tuple) -> None:
    ds, models = fitted
    good = training.calibration_ece_within_bound(calibrated_model=models, training_dataset=ds)
    assert good.passed, good.metadata
    # a calibrator that pushes every probability towards 0.95 is badly calibrated
    broken = [dataclasses.replace(m, calibrator=Calibrator("platt", a=0.0, b=3.0)) for m in models]
    bad = training.calibration_ece_within_bound(calibrated_model=broken, training_dataset=ds)
    assert not bad.passed
    assert bad.metadata["ece"].value > CALIBRATION_CHECK_MAX_ECE
    assert bad.metadata["max_ece"].value == CALIBRATION_CHECK_MAX_ECE


def test_model_beats_baseline_check_reads_the_bootstrap(fitted: tuple, tmp_path: Path) -> None:
    from csx_pipelines.stages import backtest

    ds, models = fitted
    config = synthetic_config(tmp_path)
    result = backtest(tmp_path, ds, models, config)
    assert {p.name for p in result.plots} >= {"reliability.png", "cum_net_pnl.png"}
    verdict = training.model_beats_baseline(backtest_report=result)
    assert verdict.passed == result.report.beats_baseline("roc_auc", "precision_at_k")
    worse = dataclasses.replace(
        result.report,
        deltas={
            **result.report.deltas,
            "roc_auc": {**result.report.deltas["roc_auc"], "better": False},
        },
    )
    assert not training.model_beats_baseline(
        backtest_report=dataclasses.replace(result, report=worse)
    ).passed


def test_champion_comparison_uses_the_candidates_label_window(
    fitted: tuple, tmp_path: Path
) -> None:
    """The comparison reads the label definition the candidate package records (the
    fixture's dataset was labelled with a 60 s horizon, not the 300 s default)."""
    from csx_core.ml.train import evaluate_folds, package_fold
    from csx_pipelines.stages import TRAINING_DIR, _compare_config

    ds, models = fitted
    config = synthetic_config(tmp_path)
    report = evaluate_folds(ds, models, config)
    package_fold(ds, models[-1], report, config, tmp_path / TRAINING_DIR / "package")
    compared = _compare_config(tmp_path)
    assert compared.labels == config.labels
    assert compared.labels.horizon_s == 60


def test_the_calibration_check_holds_every_run_to_the_prod_gate() -> None:
    from csx_pipelines.promotion import GATES, MAX_ECE_DEV, MAX_ECE_PROD, Profile

    assert CALIBRATION_CHECK_MAX_ECE == MAX_ECE_PROD == GATES[Profile.PROD].max_ece == 0.03
    assert MAX_ECE_DEV == GATES[Profile.DEV].max_ece == 0.05


def test_the_soak_check_judges_with_the_soak_commands_thresholds() -> None:
    from csx_pipelines.assets.monitoring import soak_within_thresholds
    from tests.test_soak_check import HEALTHY, with_

    assert soak_within_thresholds(soak_summary=HEALTHY).passed
    failed = soak_within_thresholds(soak_summary=with_(crashes=1))
    assert not failed.passed
    assert "FAIL" in failed.metadata["table"].value
