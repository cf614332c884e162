"""What a soak replays and serves when it is not given its own: a simulated market in the
event store and a small, real, verified model package (LightGBM on the engine's features,
trained on noise: the soak tests the runtime, not the model's skill). Both are cached in the
soak's data directory and reused by later runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

MODEL_SEED = 11


def ensure_market(store_dir: Path, *, symbols: int = 50, seed: int = 7) -> Path:
    """A one-day simulated market of ``symbols`` symbols at ``store_dir`` (kept if present)."""
    from csx_core.sim import SimConfig, write_to_store
    from csx_core.store import EventStore

    store = EventStore(store_dir)
    if not store.kinds():
        write_to_store(
            SimConfig(seed=seed, start=date(2026, 1, 1), days=1, n_symbols=symbols), store
        )
    return store_dir


def ensure_model(pkg_dir: Path) -> Path:
    """A verified model package at ``pkg_dir`` (written once, then reused)."""
    from csx_core.ml.package import MANIFEST

    if (pkg_dir / MANIFEST).is_file():
        return pkg_dir
    import numpy as np

    from csx_core.features import FEATURE_NAMES, FEATURE_VERSION
    from csx_core.ml.baseline import BaselineScorer
    from csx_core.ml.calibration import Calibrator
    from csx_core.ml.costs import CostModel
    from csx_core.ml.lgbm import LgbmParams, train_booster
    from csx_core.ml.package import PackageContents, write_package
    from csx_core.ml.scorer import GrossMoveModel

    rng = np.random.default_rng(MODEL_SEED)
    names = FEATURE_NAMES
    rows = 600
    x = rng.normal(size=(rows, len(names)))
    y = x[:, 0] + rng.normal(scale=0.5, size=rows) > 0.8
    up = x[:, 1] > 0
    params = LgbmParams(max_rounds=15, num_threads=1)
    model = train_booster(x, y, x, y, names, params, fixed_rounds=15)
    direction = train_booster(x[y], up[y], x[y], up[y], names, params, fixed_rounds=10)
    calibrator = Calibrator("platt", a=1.0, b=0.0)
    gross = GrossMoveModel(in_play_bps=40.0, other_bps=5.0)
    contents = PackageContents(
        model_text=model,
        direction_text=direction,
        calibrator=calibrator,
        names=names,
        feature_version=FEATURE_VERSION,
        centers=np.nanmedian(x, axis=0),
        gross=gross,
        cost=CostModel(),
        baseline=BaselineScorer(
            names=names, calibrator=calibrator, term_means=np.zeros(3), gross=gross
        ),
        training={"data_digest": f"soak-noise-{MODEL_SEED}", "labels": {"horizon_s": 60}},
        metrics={},
    )
    write_package(pkg_dir, contents)
    return pkg_dir
