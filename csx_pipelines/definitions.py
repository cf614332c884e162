"""The single composition root of the Dagster code location."""

from __future__ import annotations

import os

import dagster as dg

from csx_pipelines.assets import features, market, monitoring, registry, training
from csx_pipelines.executors import (
    EXECUTOR_ENV,
    MAX_CONCURRENT_ENV,
    executor_for,
    parse_max_concurrent,
)
from csx_pipelines.io_manager import OutOfBandPickleIOManager
from csx_pipelines.resources import LakeResource, RegistryResource

DATA_DIR = os.environ.get("CSX_DATA_DIR", "data")
TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "")
EXECUTOR = os.environ.get(EXECUTOR_ENV, "multiprocess")
MAX_CONCURRENT = parse_max_concurrent(os.environ.get(MAX_CONCURRENT_ENV, str(os.cpu_count() or 1)))

modules = [market, features, training, registry]
training_assets = dg.load_assets_from_modules(modules)
training_checks = dg.load_asset_checks_from_modules(modules)
monitoring_assets = dg.load_assets_from_modules([monitoring])
monitoring_checks = dg.load_asset_checks_from_modules([monitoring])

# Steps of one run share a process: a subprocess per step costs 5-7 s here and the steps
# run one after another anyway. Runs without a job of their own (a backfill of market
# days, a materialization from the UI) use the code location's executor instead.
training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups("market_data", "features", "training", "registry"),
    executor_def=dg.in_process_executor,
)
nightly_backtest_job = dg.define_asset_job(
    "nightly_backtest_job",
    selection=dg.AssetSelection.assets(monitoring.champion_backtest),
    executor_def=dg.in_process_executor,
)
nightly_soak_job = dg.define_asset_job(
    "nightly_soak_job",
    selection=dg.AssetSelection.assets(monitoring.soak_summary),
    executor_def=dg.in_process_executor,
)


def build_definitions(
    data_dir: str,
    tracking_uri: str,
    *,
    executor: str = "multiprocess",
    max_concurrent: int = 2,
) -> dg.Definitions:
    """The code location; ``executor`` (see ``csx_pipelines.executors``) runs the steps of
    every run that no job pins, in particular each partition run of a backfill."""
    return dg.Definitions(
        assets=[*training_assets, *monitoring_assets],
        asset_checks=[*training_checks, *monitoring_checks],
        jobs=[training_job, nightly_backtest_job, nightly_soak_job],
        schedules=[
            dg.ScheduleDefinition(
                job=nightly_backtest_job, cron_schedule="15 2 * * *", execution_timezone="UTC"
            ),
            dg.ScheduleDefinition(
                job=nightly_soak_job, cron_schedule="45 2 * * *", execution_timezone="UTC"
            ),
        ],
        resources={
            "lake": LakeResource(data_dir=data_dir),
            "mlflow": RegistryResource(tracking_uri=tracking_uri, data_dir=data_dir),
            "io_manager": OutOfBandPickleIOManager(),
        },
        executor=executor_for(executor, max_concurrent=max_concurrent),
    )


defs = build_definitions(DATA_DIR, TRACKING_URI, executor=EXECUTOR, max_concurrent=MAX_CONCURRENT)
