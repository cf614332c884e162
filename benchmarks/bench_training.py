"""Training on N rows × ~60 features (default 1 M; --quick 60 k) in ≤ 2 min on 2 cores.

Times each stage of ``train_and_evaluate`` (labels+splits, LightGBM fit, evaluation,
package). Reference for the label stage: the forward window max by the obvious
``sliding_window_view(...).max`` (O(N·H)) against the O(N) block algorithm used.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from benchmarks.harness import measure, report
from csx_core.ml.backtest import BacktestConfig
from csx_core.ml.labels import LabelConfig, forward_window_max
from csx_core.ml.synthetic import synthetic_feature_table
from csx_core.ml.train import (
    TrainConfig,
    build_dataset,
    evaluate_folds,
    fit_fold,
    package_fold,
    write_report,
)

N_FEATURES = 60


def run(*, quick: bool, rows: int | None = None) -> None:
    n_rows = rows or (60_000 if quick else 1_000_000)
    n_symbols = 10 if quick else 100
    n_ticks = n_rows // n_symbols
    t0 = time.perf_counter()
    table = synthetic_feature_table(
        n_symbols=n_symbols, n_ticks=n_ticks, n_noise=N_FEATURES - 7, seed=2
    )
    gen_s = time.perf_counter() - t0
    print(
        f"\n## Training on {table.num_rows:,} rows × {N_FEATURES} features "
        f"(synthetic generated in {gen_s:.1f} s)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            out_dir=Path(tmp),
            labels=LabelConfig(horizon_s=300, threshold_bps=10.0, volume_feature="quote_vol_60s"),
            backtest=BacktestConfig(n_boot=100),
        )
        stages: dict[str, float] = {}
        start = time.perf_counter()
        ds = build_dataset(table, cfg)
        x = ds.x
        stages["labels + splits + audit + digest"] = time.perf_counter() - start
        mark = time.perf_counter()
        fitted = [fit_fold(ds, fold, cfg, x) for fold in ds.folds]
        stages["LightGBM fit + calibration + baseline"] = time.perf_counter() - mark
        mark = time.perf_counter()
        rep = evaluate_folds(ds, fitted, cfg, x)
        stages["backtest + bootstrap"] = time.perf_counter() - mark
        mark = time.perf_counter()
        write_report(rep, ds.audit, Path(tmp) / "report")
        package_fold(ds, fitted[-1], rep, cfg, Path(tmp) / "package")
        stages["plots + report + package"] = time.perf_counter() - mark
        total = time.perf_counter() - start
    for name, sec in stages.items():
        print(f"  {name:<42} {sec:8.1f} s")
    print(
        f"  {'total':<42} {total:8.1f} s   (target ≤ 120 s at 1 M rows; "
        f"{fitted[-1].lgbm.best_iteration} trees, train rows {len(ds.folds[-1].train):,})"
    )
    print(
        f"  model AUC {rep.metrics['model']['roc_auc']:.3f} vs baseline "
        f"{rep.metrics['baseline']['roc_auc']:.3f}, model ECE {rep.metrics['model']['ece']:.4f}"
    )

    mid = np.cumsum(np.random.default_rng(0).normal(size=n_rows if quick else 200_000))
    h = 300
    subject = measure(
        "forward_window_max (blocks, O(N))",
        lambda: forward_window_max(mid, h),
        items=len(mid),
        repeat=3,
    )
    reference = measure(
        "sliding_window_view max (O(N·H))",
        lambda: sliding_window_view(mid[1:], h).max(axis=1),
        items=len(mid),
        repeat=3,
    )
    report(f"Forward {h}-tick window max", subject, reference, "rows")
