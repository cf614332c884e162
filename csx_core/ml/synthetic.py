"""A small synthetic feature table in the engine's format, with a planted signal.

Used by tests, benchmarks and demos of the learning code before (or without) the simulator.
Each symbol has a persistent latent "heat" h (AR(1)); volatility scales with exp(h), so
rows with high heat are more often in play. ``trade_rate_z`` observes h with noise (the
planted signal the baseline heuristic does not use); ``vol_z`` observes it weakly;
``ret_60s``/``rv_60s`` are computed from the price path; ``taker_imb`` hints the drift
direction; ``noise_*`` are pure noise. ``quote_vol_60s`` is recent quote volume in USD.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from csx_core.ml.frame import FEATURE_NAMES_KEY, FEATURE_VERSION_KEY, NS_PER_S

SYNTH_FEATURE_VERSION = "synthetic-v1"


def synthetic_feature_table(
    *,
    n_symbols: int = 8,
    n_ticks: int = 3000,
    n_noise: int = 3,
    seed: int = 0,
    t0_ns: int = 1_700_000_000 * NS_PER_S,
    signal: float = 1.0,
) -> pa.Table:
    """Rows = n_symbols × n_ticks at 1 s cadence. ``signal`` = 0 removes the planted link
    between ``trade_rate_z`` and the heat (the labels then depend on h only through the price
    path)."""
    rng = np.random.default_rng(seed)
    s, t = n_symbols, n_ticks
    phi = 0.995
    shocks = rng.normal(0.0, np.sqrt(1 - phi**2), size=(t, s))
    h = np.empty((t, s))
    h[0] = rng.normal(size=s)
    for i in range(1, t):
        h[i] = phi * h[i - 1] + shocks[i]
    drift_sign = np.sign(rng.normal(size=(t, s)).cumsum(axis=0) / 30.0 + 1e-9)
    sigma_bps = 0.3 * np.exp(0.9 * h)
    drift_bps = 0.03 * np.exp(0.9 * h) * drift_sign
    steps = drift_bps + sigma_bps * rng.normal(size=(t, s))
    base = 100.0 * np.exp(rng.normal(size=s))
    mid = base * np.exp(np.cumsum(steps, axis=0) / 1e4)
    spread_bps = 1.0 + 0.5 * np.exp(0.5 * rng.normal(size=(t, s)))
    half = mid * spread_bps / 2e4
    wick = np.abs(rng.normal(size=(t, s))) * sigma_bps * mid / 2e4
    no_trade = rng.random(size=(t, s)) < 0.1

    lag = 60
    ret = np.full((t, s), np.nan)
    ret[lag:] = (mid[lag:] / mid[:-lag] - 1.0) * 1e4
    sq = np.concatenate([np.zeros((1, s)), np.cumsum(steps**2, axis=0)])
    rv = np.full((t, s), np.nan)
    rv[lag:] = np.sqrt((sq[lag + 1 :] - sq[1:-lag]) / lag)
    cols: dict[str, np.ndarray] = {
        "trade_rate_z": signal * h + rng.normal(0.0, 0.6, size=(t, s)),
        "vol_z_60s": 0.3 * h + rng.normal(size=(t, s)),
        "ret_60s": ret,
        "rv_60s": rv,
        "spread_bps": spread_bps,
        "taker_imb_30s": 0.5 * drift_sign + rng.normal(0.0, 0.7, size=(t, s)),
        "quote_vol_60s": 2e6 * np.exp(0.5 * h + rng.normal(0.0, 0.3, size=(t, s))),
    }
    for k in range(n_noise):
        cols[f"noise_{k}"] = rng.normal(size=(t, s))
    names = list(cols)

    ts = t0_ns + np.arange(t, dtype=np.int64) * NS_PER_S
    data: dict[str, pa.Array] = {
        "symbol": pa.array(np.repeat([f"SYM{j:03d}USDT" for j in range(s)], t)),
        "ts": pa.array(np.tile(ts, s), pa.int64()),
        "warm": pa.array(np.tile(np.arange(t) >= lag, s)),
        "gap": pa.array(np.zeros(s * t, dtype=bool)),
        "px_bid": pa.array((mid - half).T.ravel()),
        "px_ask": pa.array((mid + half).T.ravel()),
        "px_mid": pa.array(mid.T.ravel()),
        "px_last": pa.array(np.where(no_trade, np.nan, mid).T.ravel()),
        "px_high": pa.array(np.where(no_trade, np.nan, mid + wick).T.ravel()),
        "px_low": pa.array(np.where(no_trade, np.nan, mid - wick).T.ravel()),
    }
    for name in names:
        data[name] = pa.array(cols[name].T.ravel())
    meta = {
        FEATURE_NAMES_KEY: json.dumps(names).encode(),
        FEATURE_VERSION_KEY: SYNTH_FEATURE_VERSION.encode(),
    }
    return pa.table(data).replace_schema_metadata(meta)


def noise_package(
    out: Path,
    *,
    seed: int = 0,
    rows: int = 600,
    threshold: float = 0.8,
    rounds: int = 15,
    direction_rounds: int = 10,
    training: dict[str, Any] | None = None,
    with_edge: bool = False,
) -> Path:
    """A real, verified LightGBM package on the feature engine's names, fitted to noise: what
    wiring tests and the soak need when the model's skill does not matter. Its edge tables
    are empty (every edge unknown: no price path backs one) unless ``with_edge``, which fits
    a model edge table to synthetic label-policy outcomes of the same rows (+25 bps where
    the row is in play and the called side right, −15 otherwise) and calls a direction on
    every row (threshold 0.5), for tests of the wiring that need known edges served."""
    import lightgbm as lgb

    from csx_core.features import FEATURE_NAMES, FEATURE_VERSION
    from csx_core.ml.baseline import BaselineScorer
    from csx_core.ml.calibration import Calibrator
    from csx_core.ml.costs import CostModel
    from csx_core.ml.direction import fit_direction_call
    from csx_core.ml.lgbm import LgbmParams, train_booster
    from csx_core.ml.package import PackageContents, write_package

    rng = np.random.default_rng(seed)
    names = FEATURE_NAMES
    x = rng.normal(size=(rows, len(names)))
    y = x[:, 0] + rng.normal(scale=0.5, size=rows) > threshold
    up = x[:, 1] > 0
    params = LgbmParams(max_rounds=rounds, num_threads=1)
    model = train_booster(x, y, x, y, names, params, fixed_rounds=rounds)
    direction = train_booster(
        x[y], up[y], x[y], up[y], names, params, fixed_rounds=direction_rounds
    )
    calibrator = Calibrator("platt", a=1.0, b=0.0)
    margin = lgb.Booster(model_str=direction).predict(x[y], raw_score=True)
    direction_call = fit_direction_call(np.asarray(margin, dtype=np.float64), up[y])
    edge_tables = {}
    if with_edge:
        from csx_core.ml.direction import DirectionCall
        from csx_core.ml.edge import EdgeTableConfig, fit_edge_table

        direction_call = DirectionCall(
            direction_call.calibrator, 0.5, {"reason": "wiring-test package: always calls"}
        )
        raw = np.asarray(lgb.Booster(model_str=model).predict(x, raw_score=True))
        side, conf = direction_call.apply(
            np.asarray(lgb.Booster(model_str=direction).predict(x, raw_score=True))
        )
        right = np.where(side > 0, up, ~up)
        outcome = np.where(side == 0, np.nan, np.where(y & right, 25.0, -15.0))
        edge_tables["model"] = fit_edge_table(
            p=calibrator.apply(raw),
            outcome_bps=outcome,
            conf=conf,
            row_block=(np.arange(rows) * 10) // rows,
            n_blocks=10,
            n_boot=50,
            seed=seed,
            ci=0.95,
            config=EdgeTableConfig(p_bins=3, conf_bins=2, min_trades=20),
        )
    contents = PackageContents(
        model_text=model,
        direction_text=direction,
        calibrator=calibrator,
        names=names,
        feature_version=FEATURE_VERSION,
        centers=np.nanmedian(x, axis=0),
        cost=CostModel(),
        baseline=BaselineScorer(names=names, calibrator=calibrator, term_means=np.zeros(3)),
        training=training or {"data_digest": f"noise-{seed}", "labels": {"horizon_s": 60}},
        metrics={},
        direction_call=direction_call,
        edge_tables=edge_tables,
    )
    write_package(out, contents)
    return out
