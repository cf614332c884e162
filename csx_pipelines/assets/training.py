"""training: labels from the cost model, purged folds, LightGBM, calibration, backtest."""

from pathlib import Path

import dagster as dg
import pyarrow as pa

from csx_core.ml.train import (
    Dataset,
    FittedFold,
    TrainConfig,
    TrainedFold,
    calibrate_fold,
    dataset_from_labelled,
    train_fold,
)
from csx_pipelines.assets.features import feature_snapshots
from csx_pipelines.defaults import LABEL_THRESHOLD_BPS
from csx_pipelines.promotion import CALIBRATION_CHECK_MAX_ECE
from csx_pipelines.resources import LakeResource
from csx_pipelines.stages import (
    BacktestResult,
    backtest,
    calibration_ece,
    label_table,
    train_config,
)

GROUP = "training"


class TrainingConfig(dg.Config):
    """What a training run depends on (defaults fit the simulated market)."""

    horizon_s: int = 300
    horizon_bars: int | None = None
    """The horizon in ticks of the replay's cadence (bars); replaces ``horizon_s``."""
    threshold_bps: float = LABEL_THRESHOLD_BPS
    stride_s: int = 10
    n_folds: int = 1
    embargo_s: int = 60
    calibration: str = "platt"
    assume_spread_bps: float | None = None
    """For a store without book data: the spread assumed around each bar's close."""
    lgbm_threads: int = 1
    """LightGBM's threads; more than 1 only on cores nothing else uses (the package records
    it: another count gives another model)."""

    def train_config(self, data_dir: Path) -> TrainConfig:
        """The training stages' config for the lake at ``data_dir`` (its replayed cadence)."""
        return train_config(
            data_dir,
            horizon_s=self.horizon_s,
            threshold_bps=self.threshold_bps,
            n_folds=self.n_folds,
            embargo_s=self.embargo_s,
            calibration=self.calibration,
            horizon_bars=self.horizon_bars,
            assume_spread_bps=self.assume_spread_bps,
            lgbm_threads=self.lgbm_threads,
        )


@dg.asset(group_name=GROUP, deps=[feature_snapshots])
def labels(config: TrainingConfig, lake: LakeResource) -> dg.Output[pa.Table]:
    """Every tick labelled against the cost model (best move over (t, t+H] net of fees,
    spread and impact), one tick in ``stride_s`` kept for training."""
    cfg = config.train_config(lake.root)
    table = label_table(lake.root, cfg, stride_s=config.stride_s)
    in_play = table.column("in_play").to_pylist()
    return dg.Output(
        table,
        metadata={
            "rows": table.num_rows,
            "base_rate": sum(in_play) / max(1, len(in_play)),
            "cost_model_version": cfg.cost.version,
            "horizon_s": cfg.labels.horizon_s,
            "cadence_s": cfg.engine.cadence_s,
            "assumed_spread_bps": str(cfg.labels.assumed_spread_bps),
            "threshold_bps": config.threshold_bps,
            "stride_s": config.stride_s,
        },
    )


@dg.asset(group_name=GROUP)
def training_dataset(
    config: TrainingConfig, lake: LakeResource, labels: pa.Table
) -> dg.Output[Dataset]:
    """Warm, gap-free labelled rows cut into walk-forward folds, purged and embargoed."""
    ds = dataset_from_labelled(labels, config.train_config(lake.root))
    return dg.Output(
        ds,
        metadata={
            "rows": ds.table.num_rows,
            "features": len(ds.names),
            "folds": len(ds.folds),
            "data_digest": ds.digest,
            "split_audit": dg.MetadataValue.json(ds.audit.to_dict()),
        },
    )


@dg.asset_check(asset=training_dataset, blocking=True)
def split_has_no_leakage(training_dataset: Dataset) -> dg.AssetCheckResult:
    """No label window of one segment reaches into the next (purge + embargo hold)."""
    audit = training_dataset.audit
    return dg.AssetCheckResult(
        passed=bool(audit.ok), metadata={"audit": dg.MetadataValue.json(audit.to_dict())}
    )


@dg.asset(group_name=GROUP)
def trained_model(
    config: TrainingConfig, lake: LakeResource, training_dataset: Dataset
) -> dg.Output[list[TrainedFold]]:
    """LightGBM per fold, early-stopped on a purged slice at the end of its training fold."""
    cfg = config.train_config(lake.root)
    x = training_dataset.x
    folds = [train_fold(training_dataset, fold, cfg, x) for fold in training_dataset.folds]
    return dg.Output(
        folds,
        metadata={
            "best_iterations": dg.MetadataValue.json([f.lgbm.best_iteration for f in folds]),
            "features": len(training_dataset.names),
        },
    )


@dg.asset(group_name=GROUP)
def calibrated_model(
    config: TrainingConfig,
    lake: LakeResource,
    training_dataset: Dataset,
    trained_model: list[TrainedFold],
) -> dg.Output[list[FittedFold]]:
    """Platt (or isotonic) fitted on each fold's calibration slice only."""
    cfg = config.train_config(lake.root)
    x = training_dataset.x
    fitted = [calibrate_fold(training_dataset, t, cfg, x) for t in trained_model]
    ece = calibration_ece(training_dataset, fitted, x)
    return dg.Output(fitted, metadata={"calib_ece": ece, "method": config.calibration})


@dg.asset_check(
    asset=calibrated_model,
    blocking=True,
    additional_ins={"training_dataset": dg.AssetIn("training_dataset")},
)
def calibration_ece_within_bound(
    calibrated_model: list[FittedFold], training_dataset: Dataset
) -> dg.AssetCheckResult:
    """ECE (equal-mass bins) of the calibrated probabilities on the test slices, which
    neither the model nor the calibrator saw."""
    ece = calibration_ece(training_dataset, calibrated_model, training_dataset.x)
    bound = CALIBRATION_CHECK_MAX_ECE
    return dg.AssetCheckResult(passed=ece <= bound, metadata={"ece": ece, "max_ece": bound})


@dg.asset(group_name=GROUP)
def backtest_report(
    config: TrainingConfig,
    lake: LakeResource,
    training_dataset: Dataset,
    calibrated_model: list[FittedFold],
) -> dg.Output[BacktestResult]:
    """Model vs baseline on the test folds: AUCs, Brier, ECE, top-K precision and net PnL,
    paired bootstrap CIs; the plots are embedded in the metadata."""
    cfg = config.train_config(lake.root)
    result = backtest(lake.root, training_dataset, calibrated_model, cfg)
    return dg.Output(result, metadata=result.metadata())


@dg.asset_check(asset=backtest_report, blocking=True)
def model_beats_baseline(backtest_report: BacktestResult) -> dg.AssetCheckResult:
    """The bootstrap CI of model − baseline excludes 0 for ROC-AUC and top-K precision."""
    report = backtest_report.report
    return dg.AssetCheckResult(
        passed=report.beats_baseline("roc_auc", "precision_at_k"),
        metadata={
            "deltas": dg.MetadataValue.json(
                {k: report.deltas[k] for k in ("roc_auc", "precision_at_k")}
            )
        },
    )
