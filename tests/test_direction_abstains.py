"""With the simulator's directional component at zero the market carries no direction at H,
and the screener must say "either way" on (nearly) every row instead of presenting a coin
flip (or the day's trend) as a call; the report still shows what it measured."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from csx_core.ml.dataset import feature_files, labelled_sample
from csx_core.ml.train import dataset_from_labelled, evaluate_folds, fit_fold
from csx_core.replay import replay_store
from csx_core.sim import SimConfig, simulate_day
from csx_core.store import EventStore
from csx_pipelines.stages import train_config

pytestmark = pytest.mark.slow


def test_no_directional_information_means_no_direction_called(tmp_path: Path) -> None:
    config = SimConfig(
        seed=21, start=date(2026, 3, 1), days=2, n_symbols=10, directional_strength=0.0
    )
    store = EventStore(tmp_path / "events")
    for day in range(config.days):
        for kind, table in simulate_day(config, day).items():
            store.write(kind, table)
    replay_store(tmp_path / "events", tmp_path / "features")
    cfg = train_config(
        tmp_path, horizon_s=300, threshold_bps=25.0, n_folds=1, embargo_s=60, calibration="platt"
    )
    labelled = labelled_sample(
        feature_files(tmp_path / "features"), cfg.cost, cfg.labels, stride_s=10
    )
    ds = dataset_from_labelled(labelled, cfg)
    x = ds.x
    fitted = [fit_fold(ds, fold, cfg, x) for fold in ds.folds]
    report = evaluate_folds(ds, fitted, cfg, x)
    model = report.metrics["model"]
    print(report.to_markdown())
    print(fitted[-1].direction.calibration)
    assert model["direction_coverage"] <= 0.05, fitted[-1].direction.calibration
    called = model["policy_trades"]
    assert called <= 0.05 * report.metrics["baseline"]["policy_trades"]
    # Row by row too: (nearly) every test row is "either way".
    scores = fitted[-1].scorer().score(x[ds.folds[-1].test], reason_rows=np.empty(0, np.int64))
    assert np.mean(scores.direction == 0) >= 0.95
