"""What the training assets do, one function each, over the data directory.

Kept apart from the asset definitions so the Dagster layer only unpacks config and
resources, and so the CLI and tests can run a stage without a Dagster context.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from csx_core.features.config import EngineConfig
from csx_core.ml.train import Dataset, FittedFold, TrainConfig
from csx_core.quality.features import FeatureHealth, measure_feature_health
from csx_core.replay import ReplayResult

FEATURES_DIR = "features"
TRAINING_DIR = "training"
# Replay determinism is proven on a bounded slice: one day of a few symbols, twice.
DETERMINISM_SYMBOLS = 3
DETERMINISM_SPAN_S = 2 * 3600


BOOK_KINDS = ("book_top",)
"""Kinds that give labels and costs a bid/ask; without them a spread must be assumed."""


class MissingBookError(ValueError):
    """The store has no book data and no spread was assumed."""


def _stored_kinds(events: Path) -> list[str]:
    from csx_core.store import EventStore

    return EventStore(events).kinds()


def require_book(events: Path, assumed_spread_bps: float | None) -> None:
    """Refuse, naming what is missing and the option that fixes it, a store without book
    data when no spread is assumed (every label would need a bid/ask it does not have)."""
    if assumed_spread_bps is not None:
        return
    kinds = _stored_kinds(events)
    if not set(BOOK_KINDS) & set(kinds):
        raise MissingBookError(
            f"{events} has no book data (missing kind: {', '.join(BOOK_KINDS)}; it holds "
            f"{', '.join(kinds) or 'nothing'}): labels and costs need a bid/ask. Assume a "
            "spread with --assume-spread-bps N (training config assume_spread_bps)"
        )


def replay_features(data_dir: Path, engine: EngineConfig | None = None) -> ReplayResult:
    """Replay the whole event store into ``features/`` (built aside, then swapped in, so a
    failed replay leaves the previous table intact). ``replay.json`` records the result and
    the engine settings, which training records in the package."""
    from csx_core.replay import replay_store

    engine = engine or EngineConfig()
    final = data_dir / FEATURES_DIR
    staging = data_dir / f".{FEATURES_DIR}.building"
    shutil.rmtree(staging, ignore_errors=True)
    result = replay_store(data_dir / "events", staging, config=engine)
    record = {
        **json.loads(result.to_json()),
        "engine": dataclasses.asdict(engine),
        "quote_volume": _has_quote_volume(staging),
    }
    (staging / "replay.json").write_text(json.dumps(record, sort_keys=True))
    previous = data_dir / f".{FEATURES_DIR}.previous"
    shutil.rmtree(previous, ignore_errors=True)
    if final.exists():
        final.rename(previous)
    staging.rename(final)
    shutil.rmtree(previous, ignore_errors=True)
    return result


def _replay_record(data_dir: Path) -> dict[str, Any]:
    record = data_dir / FEATURES_DIR / "replay.json"
    return json.loads(record.read_text()) if record.is_file() else {}


def replayed_engine(data_dir: Path) -> EngineConfig:
    """The engine settings the current ``features/`` were replayed with."""
    return EngineConfig(**_replay_record(data_dir).get("engine", {}))


def feature_health(features_dir: Path, events: Path | None = None) -> FeatureHealth:
    """``events``: the replayed store; when it has no book data the book features are
    reported but not gated (they are NaN by construction)."""
    from csx_core.ml.dataset import feature_files

    if events is None or not events.is_dir():
        has_book = True  # nothing to say otherwise: gate as usual
    else:
        has_book = bool(set(BOOK_KINDS) & set(_stored_kinds(events)))
    return measure_feature_health(feature_files(features_dir), has_book=has_book)


def _first_ts(batch: dict[str, pa.Table]) -> int:
    """The earliest event time of a batch that has rows."""
    import pyarrow.compute as pc

    return min(int(pc.min(t.column("ts_event")).as_py()) for t in batch.values() if t.num_rows)


def replay_twice(data_dir: Path) -> tuple[str, str]:
    """Digests of two independent replays of the same slice (the first
    ``DETERMINISM_SPAN_S`` of the first stored day, a few symbols): a replay's cost grows
    with the ticks it spans, and any non-determinism shows within hours."""
    import pyarrow.compute as pc

    from csx_core.replay import replay_batches, store_batches
    from csx_core.store import EventStore

    store = EventStore(data_dir / "events")
    day = store.dates(store.kinds()[0])[0]  # trades, or the bars of a bar-only store
    engine = replayed_engine(data_dir)
    windows = store_batches(data_dir / "events", start=day, end=day)
    head = next(windows)
    symbols = sorted({s for t in head.values() for s in t.column("symbol").to_pylist()})
    wanted = pa.array(symbols[:DETERMINISM_SYMBOLS])
    first = _first_ts(head)
    span_s = max(DETERMINISM_SPAN_S, 8 * engine.cadence_s)  # a few ticks at a bar cadence
    limit = first + span_s * 1_000_000_000
    sliced = []
    for batch in itertools.chain([head], windows):  # the windows the span reaches
        if _first_ts(batch) >= limit:
            break
        sliced.append(
            {
                kind: table.filter(
                    pc.and_(
                        pc.is_in(table.column("symbol"), wanted),
                        pc.less(table.column("ts_event"), limit),
                    )
                )
                for kind, table in batch.items()
            }
        )
    digests = [replay_batches(sliced, config=engine).digest for _ in range(2)]
    return digests[0], digests[1]


def train_config(
    data_dir: Path,
    *,
    horizon_s: int,
    threshold_bps: float,
    n_folds: int,
    embargo_s: int,
    calibration: str,
    horizon_bars: int | None = None,
    assume_spread_bps: float | None = None,
    lgbm_threads: int = 1,
) -> TrainConfig:
    """``horizon_bars`` (ticks of the replay's cadence) replaces ``horizon_s`` when set."""
    from csx_core.ml.costs import CostModel
    from csx_core.ml.labels import LabelConfig
    from csx_core.ml.lgbm import LgbmParams
    from csx_core.ml.splits import SplitConfig

    if lgbm_threads < 1:
        raise ValueError(f"lgbm_threads must be at least 1, got {lgbm_threads}")

    engine = replayed_engine(data_dir)
    tick = engine.cadence_s
    horizon = horizon_bars * tick if horizon_bars else horizon_s
    if horizon % tick:
        raise ValueError(f"horizon_s {horizon} is not a whole number of {tick} s ticks")
    return TrainConfig(
        out_dir=data_dir / TRAINING_DIR,
        engine=engine,
        labels=LabelConfig(
            horizon_s=horizon,
            tick_s=tick,
            threshold_bps=threshold_bps,
            volume_feature=_volume_feature(data_dir),
            assumed_spread_bps=assume_spread_bps,
        ),
        splits=SplitConfig(n_folds=n_folds, embargo_s=embargo_s),
        cost=CostModel(),
        lgbm=LgbmParams(num_threads=lgbm_threads),
        calibration=calibration,
        overwrite=True,
    )


VOLUME_FEATURE = "qvol_1m"


def _has_quote_volume(features_dir: Path) -> bool:
    """Whether any replayed row traded quote volume (bars imported without it have none);
    measured once per replay and kept in ``replay.json``."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from csx_core.ml.dataset import feature_files

    for f in feature_files(features_dir):
        volume = pq.read_table(f, columns=[VOLUME_FEATURE]).column(VOLUME_FEATURE)
        if (pc.max(volume).as_py() or 0.0) > 0.0:
            return True
    return False


def _volume_feature(data_dir: Path) -> str | None:
    """The impact term's volume: the last minute's quote volume, unless the replayed data
    carries none at all, where the cost model's reference volume prices impact instead of a
    zero volume that would price it at its cap."""
    return VOLUME_FEATURE if _replay_record(data_dir).get("quote_volume", True) else None


TRAINING_MEMORY_MB = 3072
"""The training sample's memory budget: longer replays are sampled with a longer stride
instead of growing the training set. It leaves room, within the 6 GB the 300-symbol
benchmark is held to, for the replay's own peak (~2 GB at 300 symbols)."""
ROW_COPIES = 5
"""A sampled row's peak cost in copies of its float64 width: the labelled sample with its
sorted copy, then the dataset's filtered table, its feature matrix and LightGBM's bins
(measured by ``benchmarks/bench_scale.py``, 100 symbols x 8 days: 4.4 GB over the replay's
peak for 1.14 M rows of 100 columns, 4.8 copies)."""
STRIDE_KEY = b"csx.stride_s"


def max_training_rows(files: list[Path]) -> int:
    """The rows ``TRAINING_MEMORY_MB`` holds, for the width of these feature files."""
    import pyarrow.parquet as pq

    from csx_core.ml.labels import LABEL_COLUMNS

    width = len(pq.read_schema(files[0]).names) + len(LABEL_COLUMNS) if files else 1
    return max(1, TRAINING_MEMORY_MB * 2**20 // (ROW_COPIES * 8 * width))


def label_table(
    data_dir: Path, config: TrainConfig, *, stride_s: int, max_rows: int | None = None
) -> Any:
    """The labelled training sample, streamed day by day; the stride it was sampled at
    (``stride_s``, lengthened to fit ``max_rows``, by default what ``TRAINING_MEMORY_MB``
    holds) is in its metadata (``STRIDE_KEY``)."""
    from csx_core.ml.dataset import budget_stride, feature_files, labelled_sample
    from csx_core.ml.evaluate import tick_stride

    require_book(data_dir / "events", config.labels.assumed_spread_bps)
    files = feature_files(data_dir / FEATURES_DIR)
    max_rows = max_training_rows(files) if max_rows is None else max_rows
    tick_s = config.labels.tick_s
    stride = budget_stride(files, tick_stride(stride_s, tick_s), max_rows, tick_s=tick_s)
    table = labelled_sample(files, config.cost, config.labels, stride_s=stride)
    metadata = {**(table.schema.metadata or {}), STRIDE_KEY: str(stride).encode()}
    return table.replace_schema_metadata(metadata)


def sampled_stride(table: pa.Table) -> int | None:
    """The stride a labelled sample was taken at (``label_table``), if it says."""
    value = (table.schema.metadata or {}).get(STRIDE_KEY)
    return None if value is None else int(value)


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
        assumed_spread_bps=config.labels.assumed_spread_bps,
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
    from csx_core.ml.dataset import feature_files
    from csx_core.ml.train import package_fold
    from csx_pipelines.promotion import flatten_report

    package = data_dir / TRAINING_DIR / "package"
    report = backtest_result.report
    digest = package_fold(ds, fitted[-1], report, config, package)
    params = {
        "horizon_s": config.labels.horizon_s,
        "cadence_s": config.engine.cadence_s,
        "assumed_spread_bps": (
            "none (book data)"
            if config.labels.assumed_spread_bps is None
            else config.labels.assumed_spread_bps
        ),
        "threshold_bps": config.labels.threshold_bps,
        "n_folds": config.splits.n_folds,
        "embargo_s": config.splits.embargo_s,
        "calibration": config.calibration,
        "rows": ds.table.num_rows,
        "stride_s": sampled_stride(ds.table) or "unknown",
        "training_memory_mb": TRAINING_MEMORY_MB,
        "max_training_rows": max_training_rows(feature_files(data_dir / FEATURES_DIR)),
        "features": len(ds.names),
        "best_iteration": fitted[-1].lgbm.best_iteration,
        "lgbm_threads": config.lgbm.num_threads,
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
