"""``csx train``: the training job over a data directory's own event store.

The same Dagster job and assets the demo runs (replay → labels → folds → LightGBM →
calibration → backtest → registered model → gated champion), minus the simulated market:
the store is whatever ``csx import`` or ``csx record`` put under ``<data-dir>/events``.
Every setting is checked before the run starts, so a bad value or a store that cannot be
labelled is one line naming it, not a failed run minutes later.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csx_core.cli import CommandError
from csx_pipelines.backtest_report import print_headline
from csx_pipelines.defaults import LABEL_THRESHOLD_BPS

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""The run's own log stays quiet: this command prints each asset's result and the failing step."""
SHOWN = ("rows", "digest", "base_rate", "version", "promoted", "calib_ece", "cadence_s")


@dataclass(frozen=True)
class TrainSettings:
    """``horizon_bars`` counts ticks of ``cadence_s``; without it (or ``horizon_s``) the
    horizon is 300 s, or one bar at a bar cadence."""

    data_dir: Path
    cadence_s: int = 1
    horizon_s: int | None = None
    horizon_bars: int | None = None
    threshold_bps: float = LABEL_THRESHOLD_BPS
    stride_s: int = 10
    n_folds: int = 1
    calibration: str = "platt"
    assume_spread_bps: float | None = None
    gap_after_s: int | None = None
    lgbm_threads: int = 1
    tracking_uri: str = ""

    @property
    def events(self) -> Path:
        return self.data_dir / "events"

    def horizon(self) -> tuple[int | None, int | None]:
        """(horizon_s, horizon_bars) as the training config takes them."""
        if self.horizon_bars is not None:
            return None, self.horizon_bars
        if self.horizon_s is not None:
            return self.horizon_s, None
        return (None, 1) if self.cadence_s > 60 else (300, None)


@dataclass(frozen=True)
class TrainOutcome:
    version: str
    verdict: str
    report_dir: Path
    package_dir: Path
    checks: dict[str, bool]


def check_settings(settings: TrainSettings) -> None:
    """Every value the run depends on, refused here with the option named."""
    from csx_core.features.config import EngineConfig
    from csx_core.ml.evaluate import tick_stride
    from csx_core.ml.labels import LabelConfig
    from csx_pipelines.stages import require_book

    if not settings.events.is_dir():
        raise CommandError(
            f"no event store at {settings.events}: import data first (csx import ... "
            f"--data-dir {settings.data_dir})"
        )
    try:
        engine = EngineConfig.for_cadence(settings.cadence_s, settings.gap_after_s)
    except ValueError as exc:
        raise CommandError(f"--cadence: {exc}") from exc
    horizon_s, bars = settings.horizon()
    horizon = bars * engine.cadence_s if bars else (horizon_s or 0)
    if horizon <= 0 or horizon % engine.cadence_s:
        raise CommandError(
            f"--horizon-s: {horizon} s is not a positive whole number of "
            f"{engine.cadence_s} s ticks (or give --horizon-bars)"
        )
    try:
        LabelConfig(
            horizon_s=horizon,
            tick_s=engine.cadence_s,
            threshold_bps=settings.threshold_bps,
            assumed_spread_bps=settings.assume_spread_bps,
        )
        tick_stride(settings.stride_s, engine.cadence_s)
        require_book(settings.events, settings.assume_spread_bps)
    except ValueError as exc:  # MissingBookError among them
        raise CommandError(str(exc)) from exc


def run_config(settings: TrainSettings) -> dict[str, Any]:
    """The job's run config: the replay's engine settings and one training config, given
    to every asset that takes it."""
    horizon_s, bars = settings.horizon()
    training: dict[str, Any] = {
        "horizon_bars": bars,
        "threshold_bps": settings.threshold_bps,
        "stride_s": settings.stride_s,
        "n_folds": settings.n_folds,
        "calibration": settings.calibration,
        "assume_spread_bps": settings.assume_spread_bps,
        "lgbm_threads": settings.lgbm_threads,
    }
    if horizon_s is not None:
        training["horizon_s"] = horizon_s
    features = {"cadence_s": settings.cadence_s, "gap_after_s": settings.gap_after_s}
    ops: dict[str, Any] = {"feature_snapshots": {"config": features}}
    for asset in TRAINING_CONFIG_ASSETS:
        ops[asset] = {"config": training}
    return {**QUIET, "ops": ops}


TRAINING_CONFIG_ASSETS = (
    "labels",
    "training_dataset",
    "trained_model",
    "calibrated_model",
    "backtest_report",
    "registered_model",
)


def run_training(settings: TrainSettings) -> TrainOutcome:
    """Check the settings, then run the training job (every asset but the market source)
    in this process on the data directory's Dagster instance and MLflow registry."""
    import dagster as dg

    from csx_pipelines.definitions import build_definitions
    from csx_pipelines.instance import platform_env
    from csx_pipelines.registry import default_tracking_uri

    check_settings(settings)
    env = platform_env(settings.data_dir)
    uri = settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    env["MLFLOW_TRACKING_URI"] = uri or default_tracking_uri(settings.data_dir)
    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "CSX_DATA_DIR", "MLFLOW_TRACKING_URI")})
    defs = build_definitions(str(settings.data_dir), env["MLFLOW_TRACKING_URI"])
    job = defs.resolve_job_def("training_job")
    selection = [
        k for k in job.asset_layer.executable_asset_keys if k != dg.AssetKey("market_events")
    ]
    _say(f"training on {settings.events} (ticks {settings.cadence_s} s apart), one Dagster run")
    began = time.monotonic()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        asset_selection=selection,
        run_config=run_config(settings),
        raise_on_error=False,
    )
    verdict, version = "unknown (the champion asset reported no verdict)", ""
    for event in result.get_asset_materialization_events():
        key = event.asset_key.to_user_string() if event.asset_key else "?"
        meta = event.materialization.metadata
        _say(f"  {key}: { ({k: v.value for k, v in meta.items() if k in SHOWN}) }")
        if "verdict" in meta:
            verdict, version = str(meta["verdict"].value), str(meta["version"].value)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    for name, passed in checks.items():
        _say(f"  check {name}: {'PASS' if passed else 'FAIL'}")
    if not result.success:
        failure = next(
            (e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"), "?"
        )
        raise CommandError(
            f"the training run failed at {failure} (run {result.run_id}; see the Dagster UI, "
            "csx ui dagster, for its logs)"
        )
    _say(f"done in {time.monotonic() - began:.1f} s")
    training = settings.data_dir / "training"
    print_headline(training / "report" / "report.json", "backtest, test folds")
    return TrainOutcome(version, verdict, training / "report", training / "package", checks)


def _say(message: str) -> None:
    print(message, flush=True)
