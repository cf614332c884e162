"""End to end at scale: simulate → features → labels → split → train → calibrate → backtest.

Each size runs in a fresh process (its peak RSS is that process's ``ru_maxrss``), through
the pipeline's own stage functions (``csx_pipelines.stages``), on a sparse simulated market
at a 1-minute tick cadence. Memory is meant to be flat in days and bounded in symbols: the
simulator writes one block of symbols of one day at a time, the replay reads the store an
hour at a time, labels stream day by day, and the training sample is capped by
``TRAINING_MEMORY_MB`` (a longer replay is sampled at a longer stride). The report prints
each size's stage walls and peak RSS, and the RSS ratio of the longest to the shortest run
of the same symbols (the reference: flat is 1.0).

Run: ``python -m benchmarks scale`` (300 symbols × 10 and 30 days) or ``--quick``
(30 symbols × 2 and 6 days). One size: ``python -m benchmarks.bench_scale --symbols 300
--days 30``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CADENCE_S = 60
STRIDE_S = 60
HORIZON_S = 900


def _child(symbols: int, days: int, root: Path) -> dict[str, Any]:
    """One size, in this process: every stage's wall time, then the peak RSS."""
    from csx_core.features import EngineConfig
    from csx_core.ml.train import calibrate_fold, dataset_from_labelled, evaluate_folds, train_fold
    from csx_core.sim import SimConfig, write_to_store
    from csx_core.store import EventStore
    from csx_pipelines.stages import label_table, replay_features, sampled_stride, train_config

    walls: dict[str, float] = {}
    peaks: dict[str, int] = {}  # the process's peak RSS (MB) once each stage is done

    def done(stage: str, since: float) -> None:
        walls[stage] = time.perf_counter() - since
        peaks[stage] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    mark = time.perf_counter()
    sim = SimConfig(
        days=days, n_symbols=symbols, seed=3, trade_rate=0.05, book_rate=0.0, mark_interval_s=3
    )
    events = write_to_store(sim, EventStore(root / "events")).total_events
    done("simulate", mark)

    mark = time.perf_counter()
    result = replay_features(root, EngineConfig(cadence_s=CADENCE_S))
    done("features", mark)

    config = train_config(
        root,
        horizon_s=HORIZON_S,
        threshold_bps=25.0,
        n_folds=1,
        embargo_s=60,
        calibration="platt",
    )
    mark = time.perf_counter()
    labelled = label_table(root, config, stride_s=STRIDE_S)
    done("labels", mark)

    mark = time.perf_counter()
    ds = dataset_from_labelled(labelled, config)
    del labelled
    done("split", mark)
    x = ds.x
    mark = time.perf_counter()
    trained = [train_fold(ds, fold, config, x) for fold in ds.folds]
    done("train", mark)
    mark = time.perf_counter()
    fitted = [calibrate_fold(ds, t, config, x) for t in trained]
    done("calibrate", mark)
    mark = time.perf_counter()
    report = evaluate_folds(ds, fitted, config, x)
    done("backtest", mark)
    return {
        "symbols": symbols,
        "days": days,
        "events": events,
        "feature_rows": result.rows,
        "training_rows": ds.table.num_rows,
        "stride_s": sampled_stride(ds.table),
        "roc_auc": report.metrics["model"].get("roc_auc"),
        "walls_s": {k: round(v, 1) for k, v in walls.items()},
        "wall_s": round(sum(walls.values()), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_rss_by_stage_mb": peaks,
    }


def _run_size(symbols: int, days: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="csx-scale-") as tmp:
        cmd = [sys.executable, "-m", "benchmarks.bench_scale"]
        cmd += ["--symbols", str(symbols), "--days", str(days), "--root", tmp]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout  # noqa: S603
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def run(*, quick: bool) -> None:
    symbols, sizes = (30, (2, 6)) if quick else (300, (10, 30))
    print(
        f"\n## {symbols} symbols × {sizes} days, ticks {CADENCE_S} s apart, "
        f"horizon {HORIZON_S} s, each size in a fresh process"
    )
    results = []
    for days in sizes:  # each printed as it is done
        r = _run_size(symbols, days)
        results.append(r)
        stages = ", ".join(
            f"{k} {v:.0f} s (peak {r['peak_rss_by_stage_mb'][k]:,} MB)"
            for k, v in r["walls_s"].items()
        )
        print(
            f"  {r['symbols']} × {r['days']} d: {r['events']:,} events, "
            f"{r['feature_rows']:,} feature rows, {r['training_rows']:,} training rows "
            f"(stride {r['stride_s']} s); wall {r['wall_s']:.0f} s ({stages}); "
            f"peak RSS {r['peak_rss_mb']:,} MB; ROC-AUC {r['roc_auc']:.3f}",
            flush=True,
        )
    first, last = results[0], results[-1]
    ratio = last["peak_rss_mb"] / first["peak_rss_mb"]
    print(
        f"  peak RSS {last['days']} d / {first['days']} d: {ratio:.2f} "
        f"(days ×{last['days'] / first['days']:.0f}; flat in days is 1.0)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scale")
    parser.add_argument("--symbols", type=int, required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--root", type=Path, help="scratch data dir (default: a temp dir)")
    args = parser.parse_args()
    if args.root is None:
        with tempfile.TemporaryDirectory(prefix="csx-scale-") as tmp:
            print(json.dumps(_child(args.symbols, args.days, Path(tmp))))
    else:
        print(json.dumps(_child(args.symbols, args.days, args.root)))


if __name__ == "__main__":
    main()
