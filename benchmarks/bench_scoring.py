"""Scoring one tick of 500 symbols: calibrated p + reason codes (top-K) + ranking + alerts.

Subject: ``TickPipeline.run`` over a stream of consecutive synthetic ticks, with a loaded
model package (one batched predict; reasons only for symbols entering the top-K and alerts
that fire), once with leaf-path attribution and once with TreeSHAP (``pred_contrib``).
Reference: the naive per-row loop — score each symbol alone with its TreeSHAP reasons, then
sort. Target: p99 ≤ 8 ms for the subject.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.harness import latency_percentiles, report_latency
from csx_core.ml.backtest import BacktestConfig
from csx_core.ml.frame import matrix
from csx_core.ml.labels import LabelConfig
from csx_core.ml.package import load_package
from csx_core.ml.synthetic import synthetic_feature_table
from csx_core.ml.train import TrainConfig, train_and_evaluate
from csx_core.ranking.alerts import AlertConfig, Alerter
from csx_core.ranking.ranker import Ranker, RankerConfig
from csx_core.ranking.tick import TickPipeline

N_SYMBOLS = 500
K = 10


def run(*, quick: bool) -> None:
    table = synthetic_feature_table(
        n_symbols=20 if quick else 40, n_ticks=3000 if quick else 6000, n_noise=53, seed=1
    )
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            out_dir=Path(tmp),
            labels=LabelConfig(horizon_s=60, threshold_bps=-4.0),
            backtest=BacktestConfig(n_boot=20),
        )
        result = train_and_evaluate(table, cfg)
        scorer = load_package(result.package_dir, reason_method="path")
        shap_scorer = load_package(result.package_dir)
    trees = scorer.contents.training["best_iteration"]
    n_ticks = 80 if quick else 420
    stream = synthetic_feature_table(n_symbols=N_SYMBOLS, n_ticks=n_ticks, n_noise=53, seed=9)
    per_tick = stream.num_rows // N_SYMBOLS
    full = matrix(stream, scorer.feature_names).reshape(N_SYMBOLS, per_tick, -1)
    symbols = [f"S{i:04d}USDT" for i in range(N_SYMBOLS)]
    x = np.ascontiguousarray(full[:, -1, :])
    counts = {"events": 0, "alerts": 0}

    def stream_runner(sc: object) -> Callable[[], None]:
        pipe = TickPipeline(
            sc,  # type: ignore[arg-type]
            Ranker(RankerConfig(k=K)),
            Alerter(AlertConfig(threshold=0.5, cooldown_s=60)),
        )
        tick = iter(range(10**9))

        def one_tick() -> None:
            t = next(tick)
            out = pipe.run(t * 1_000_000_000, symbols, np.ascontiguousarray(full[:, t % per_tick]))
            counts["events"] += len(out.events)
            counts["alerts"] += len(out.alerts)

        return one_tick

    def reference() -> None:
        ps = []
        for i in range(N_SYMBOLS):
            s = shap_scorer.score(x[i : i + 1])
            ps.append((-float(s.p[0]), symbols[i], s.reasons[0]))
        sorted(ps)[:K]

    def all_reasons() -> None:
        scorer.score(x)

    def all_reasons_shap() -> None:
        shap_scorer.score(x)

    calls = per_tick - 2
    print(
        f"\n## Scoring one tick of {N_SYMBOLS} symbols ({len(scorer.feature_names)} features,"
        f" {trees} trees, top-{K} explained)"
    )
    sub = latency_percentiles(stream_runner(scorer), calls=calls)
    report_latency("TickPipeline.run, path-attribution reasons", sub)
    print(
        f"  over {calls} consecutive ticks: {counts['events']} rank events, "
        f"{counts['alerts']} alerts (reasons computed for entries and fired alerts)"
    )
    shap = latency_percentiles(stream_runner(shap_scorer), calls=calls)
    report_latency("TickPipeline.run, TreeSHAP (pred_contrib) reasons", shap)
    ref = latency_percentiles(reference, calls=3 if quick else 10)
    report_latency("reference: per-row score+reasons loop", ref)
    report_latency(
        "info: batched, path reasons for all 500 rows",
        latency_percentiles(all_reasons, calls=5 if quick else 20),
    )
    report_latency(
        "info: batched, TreeSHAP reasons for all 500 rows",
        latency_percentiles(all_reasons_shap, calls=3 if quick else 5),
    )
    print(f"  ratio (reference p50 / subject p50): {ref['p50_us'] / sub['p50_us']:.1f}x")
    verdict = "meets" if sub["p99_us"] <= 8_000 else "MISSES"
    print(f"  p99 {sub['p99_us'] / 1000:.2f} ms {verdict} the 8 ms target")
