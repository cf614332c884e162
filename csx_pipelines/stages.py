"""What the training assets do, one function each, over the data directory.

Kept apart from the asset definitions so the Dagster layer only unpacks config and
resources, and so the CLI and tests can run a stage without a Dagster context.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from csx_core.ml.train import Dataset, FittedFold, TrainConfig
from csx_core.quality.features import FeatureHealth, measure_feature_health
from csx_core.replay import ReplayResult

FEATURES_DIR = "features"
TRAINING_DIR = "training"
# Replay determinism is proven on a bounded slice: one day of a few symbols, twice.
DETERMINISM_SYMBOLS = 3
DETERMINISM_SPAN_S = 2 * 3600


def replay_features(data_dir: Path) -> ReplayResult:
    """Replay the whole event store into ``features/`` (built aside, then swapped in, so a
    failed replay leaves the previous table intact)."""
    from csx_core.replay import replay_store

    final = data_dir / FEATURES_DIR
    staging = data_dir / f".{FEATURES_DIR}.building"
    shutil.rmtree(staging, ignore_errors=True)
    result = replay_store(data_dir / "events", staging)
    (staging / "replay.json").write_text(result.to_json())
    previous = data_dir / f".{FEATURES_DIR}.previous"
    shutil.rmtree(previous, ignore_errors=True)
    if final.exists():
        final.rename(previous)
    staging.rename(final)
    shutil.rmtree(previous, ignore_errors=True)
    return result


def feature_health(features_dir: Path) -> FeatureHealth:
    from csx_core.ml.dataset import feature_files

    return measure_feature_health(feature_files(features_dir))


def replay_twice(data_dir: Path) -> tuple[str, str]:
    """Digests of two independent replays of the same slice (the first
    ``DETERMINISM_SPAN_S`` of the first stored day, a few symbols): a replay's cost grows
    with the ticks it spans, and any non-determinism shows within hours."""
    import pyarrow.compute as pc

    from csx_core.replay import replay_batches, store_batches
    from csx_core.store import EventStore

    days = EventStore(data_dir / "events").dates("trade")
    batch = next(store_batches(data_dir / "events", start=days[0], end=days[0]))
    symbols = sorted(set(batch["trade"].column("symbol").to_pylist()))[:DETERMINISM_SYMBOLS]
    first = min(int(pc.min(t.column("ts_event")).as_py()) for t in batch.values() if t.num_rows)
    limit = first + DETERMINISM_SPAN_S * 1_000_000_000
    sliced = {
        kind: table.filter(
            pc.and_(
                pc.is_in(table.column("symbol"), pa.array(symbols)),
                pc.less(table.column("ts_event"), limit),
            )
        )
        for kind, table in batch.items()
    }
    digests = [replay_batches([sliced]).digest for _ in range(2)]
    return digests[0], digests[1]


def train_config(
    data_dir: Path,
    *,
    horizon_s: int,
    threshold_bps: float,
    n_folds: int,
    embargo_s: int,
    calibration: str,
) -> TrainConfig:
    from csx_core.ml.costs import CostModel
    from csx_core.ml.labels import LabelConfig
    from csx_core.ml.splits import SplitConfig

    return TrainConfig(
        out_dir=data_dir / TRAINING_DIR,
        labels=LabelConfig(
            horizon_s=horizon_s, threshold_bps=threshold_bps, volume_feature="qvol_1m"
        ),
        splits=SplitConfig(n_folds=n_folds, embargo_s=embargo_s),
        cost=CostModel(),
        calibration=calibration,
        overwrite=True,
    )


def label_table(data_dir: Path, config: TrainConfig, *, stride_s: int) -> Any:
    from csx_core.ml.dataset import feature_files, labelled_sample

    files = feature_files(data_dir / FEATURES_DIR)
    return labelled_sample(files, config.cost, config.labels, stride_s=stride_s)


def calibration_ece(ds: Dataset, fitted: list[FittedFold], x: Any) -> float:
    """ECE of calibrated probabilities over every fold's test slice."""
    from csx_core.ml.metrics import ece

    y = np.asarray(ds.table.column("in_play").to_numpy(zero_copy_only=False), dtype=bool)
    none = np.empty(0, dtype=np.int64)
    p = np.concatenate([ff.scorer().score(x[ff.fold.test], reason_rows=none).p for ff in fitted])
    idx = np.concatenate([ff.fold.test for ff in fitted])
    return float(ece(y[idx], p))


@dataclass(frozen=True)
class BacktestResult:
    report: Any
    report_dir: Path
    plots: list[Path]
    explanations: tuple[str, ...] = ()

    def metadata(self) -> dict[str, Any]:
        import dagster as dg

        images = "\n\n".join(
            f"**{p.stem}**\n\n![{p.stem}](data:image/png;base64,"
            f"{base64.b64encode(p.read_bytes()).decode()})"
            for p in self.plots
        )
        return {
            "report": dg.MetadataValue.md(self.report.to_markdown()),
            "top_alerts": dg.MetadataValue.md("\n".join(self.explanations)),
            "plots": dg.MetadataValue.md(images),
            "metrics": dg.MetadataValue.json(
                json.loads(json.dumps(self.report.metrics, default=str))
            ),
            "report_dir": dg.MetadataValue.path(str(self.report_dir)),
        }


def backtest(
    data_dir: Path, ds: Dataset, fitted: list[FittedFold], config: TrainConfig
) -> BacktestResult:
    from csx_core.ml.edge import EdgeTable
    from csx_core.ml.train import evaluate_folds, write_report
    from csx_pipelines.explain_report import explain_top_alerts

    report = evaluate_folds(ds, fitted, config)
    out = data_dir / TRAINING_DIR / "report"
    plots = write_report(report, ds.audit, out)
    model_edge = report.edge_tables.get("model")
    explained = explain_top_alerts(
        ds,
        fitted,
        config.cost,
        edge=None if model_edge is None else EdgeTable.from_dict(model_edge),
        environ=os.environ,
    )
    (out / "top_alerts.md").write_text("\n".join(explained) + "\n")
    return BacktestResult(report, out, plots, tuple(explained))


def register_package(
    data_dir: Path,
    registry: Any,
    ds: Dataset,
    fitted: list[FittedFold],
    backtest_result: BacktestResult,
    config: TrainConfig,
) -> Any:
    """Write the package, log the run (params, flat metrics, report, plots, package) and
    register a model version; returns its ``VersionInfo``."""
    from csx_core import __version__
    from csx_core.ml.train import package_fold
    from csx_pipelines.promotion import flatten_report

    package = data_dir / TRAINING_DIR / "package"
    report = backtest_result.report
    digest = package_fold(ds, fitted[-1], report, config, package)
    params = {
        "horizon_s": config.labels.horizon_s,
        "threshold_bps": config.labels.threshold_bps,
        "n_folds": config.splits.n_folds,
        "embargo_s": config.splits.embargo_s,
        "calibration": config.calibration,
        "rows": ds.table.num_rows,
        "features": len(ds.names),
        "best_iteration": fitted[-1].lgbm.best_iteration,
    }
    tags = {
        "data_digest": ds.digest,
        "code_version": __version__,
        "cost_model_version": config.cost.version,
        "feature_version": ds.feature_version,
        "package_digest": digest,
    }
    run_id = registry.log_run(
        package_dir=package,
        params=params,
        metrics=flatten_report(report.to_dict()),
        artifacts=[backtest_result.report_dir],
        tags=tags,
    )
    version = registry.register(run_id, tags=tags)
    return next(v for v in registry.versions() if v.version == version)


def promote_version(
    data_dir: Path,
    registry: Any,
    profile: str,
    version: str,
    ds: Dataset,
    fitted: list[FittedFold],
) -> Any:
    """Gate ``version`` (the one this run registered, never "the latest") and promote it
    if every gate passes; otherwise the champion stays and the outcome says why."""
    from csx_pipelines.promotion import PNL_VS_CHAMPION_CI_LOW, Profile, evaluate_gates

    metrics = registry.version_metrics(version)
    current = registry.champion()
    chosen = Profile(profile)
    if chosen is Profile.PROD and current is not None and current != version:
        metrics[PNL_VS_CHAMPION_CI_LOW] = _pnl_vs_champion(
            data_dir, registry, current, ds, fitted, _compare_config(data_dir)
        )
    gates = evaluate_gates(metrics, chosen, has_champion=current is not None)
    return registry.promote(version, gates)


def _pnl_vs_champion(
    data_dir: Path,
    registry: Any,
    current: str,
    ds: Dataset,
    fitted: list[FittedFold],
    config: TrainConfig,
) -> float:
    """Lower CI bound of candidate − champion label-policy net bps per trade on the same
    test rows (NaN, failing the gate, when the champion cannot be compared)."""
    from csx_core.ml.package import load_package
    from csx_core.ml.train import compare_with_champion

    try:
        champion_dir = registry.download(current, data_dir / TRAINING_DIR / "champion")
        served = load_package(champion_dir)
        report = compare_with_champion(ds, fitted, served, config)
    except ValueError:
        return float("nan")
    return float(report.deltas["policy_net_bps"]["ci_low"])


def _compare_config(data_dir: Path) -> TrainConfig:
    """The comparison's config: the label definition the candidate package records (its
    horizon spaces the decision ticks; the label policy's columns are the dataset's own)."""
    from csx_core.outcomes import label_config_of

    training = json.loads((data_dir / TRAINING_DIR / "package" / "training.json").read_text())
    return TrainConfig(out_dir=data_dir / TRAINING_DIR, labels=label_config_of(training))
