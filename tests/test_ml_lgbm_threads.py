"""The in-play and direction boosters are the ones training them in turn gives, with one
LightGBM thread (trained side by side) or several (each booster with all of them, in turn),
and the training config carries the thread count to LightGBM and the package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csx_core.ml.lgbm import LgbmParams, TrainedLgbm, fit_lgbm, train_booster
from csx_pipelines.assets.training import TrainingConfig
from csx_pipelines.stages import train_config
from csx_pipelines.train import TRAINING_CONFIG_ASSETS, TrainSettings, run_config

NAMES = ("a", "b", "c", "d")


Split = tuple[np.ndarray, np.ndarray, np.ndarray]  # features, in play, up


def _data(seed: int, rows: int) -> Split:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(NAMES)))
    in_play = x[:, 0] + 0.5 * rng.normal(size=rows) > 0.8
    up = x[:, 1] + rng.normal(size=rows) > 0
    return x, in_play, up


def _params(threads: int) -> LgbmParams:
    return LgbmParams(
        max_rounds=25, early_stopping_rounds=5, min_data_in_leaf=20, num_threads=threads
    )


def _fit(params: LgbmParams, train: Split, valid: Split) -> TrainedLgbm:
    (x, y, up), (xv, yv, upv) = train, valid
    return fit_lgbm(
        names=NAMES, x_train=x, y_train=y, up_train=up, x_valid=xv, y_valid=yv,
        up_valid=upv, params=params,
    )  # fmt: skip


@pytest.mark.parametrize("threads", [1, 2])
def test_each_booster_is_the_one_trained_on_its_own(threads: int) -> None:
    params = _params(threads)
    (x, y, up), (xv, yv, upv) = train, valid = _data(1, 3000), _data(2, 1500)
    trained = _fit(params, train, valid)
    assert trained.model_text == train_booster(x, y, xv, yv, NAMES, params)
    assert trained.direction_text == train_booster(x[y], up[y], xv[yv], upv[yv], NAMES, params)
    assert f"[num_threads: {threads}]" in trained.model_text


def test_an_uninformative_direction_slice_trains_the_in_play_rounds_in_turn() -> None:
    params = _params(2)
    train, (xv, yv, _) = _data(3, 3000), _data(4, 1500)
    x, y, up = train
    all_up = np.ones(len(xv), dtype=bool)  # one class only: nothing to stop on
    trained = _fit(params, train, (xv, yv, all_up))
    rounds = max(trained.best_iteration, 10)
    assert trained.direction_text == train_booster(
        x[y], up[y], xv[yv], all_up[yv], NAMES, params, fixed_rounds=rounds
    )


def test_the_training_config_sets_lightgbms_threads(tmp_path: Path) -> None:
    assert TrainingConfig().train_config(tmp_path).lgbm.num_threads == 1
    assert TrainingConfig(lgbm_threads=2).train_config(tmp_path).lgbm.num_threads == 2
    with pytest.raises(ValueError, match="lgbm_threads must be at least 1"):
        train_config(
            tmp_path,
            horizon_s=300,
            threshold_bps=25.0,
            n_folds=1,
            embargo_s=60,
            calibration="platt",
            lgbm_threads=0,
        )


def test_csx_train_gives_every_training_asset_the_thread_count(tmp_path: Path) -> None:
    ops = run_config(TrainSettings(data_dir=tmp_path, lgbm_threads=2))["ops"]
    assert {ops[asset]["config"]["lgbm_threads"] for asset in TRAINING_CONFIG_ASSETS} == {2}
