"""registry: the MLflow model version and the gated champion alias."""

from typing import Any

import dagster as dg

from csx_pipelines.assets.training import TrainingConfig, _config, backtest_report
from csx_pipelines.resources import LakeResource, RegistryResource

GROUP = "registry"


class PromotionConfig(dg.Config):
    profile: str = "DEV"


@dg.asset(group_name=GROUP, deps=[backtest_report])
def registered_model(
    config: TrainingConfig,
    lake: LakeResource,
    mlflow: RegistryResource,
    training_dataset: Any,
    calibrated_model: Any,
    backtest_report: Any,
) -> dg.MaterializeResult[None]:
    """The last fold's package as an MLflow model version, with its run's params, metrics,
    report and plots; tagged with data digest, code version, cost and feature versions."""
    from csx_pipelines.stages import register_package

    version = register_package(
        lake.root,
        mlflow.registry(),
        training_dataset,
        calibrated_model,
        backtest_report,
        _config(config, lake),
    )
    return dg.MaterializeResult(
        metadata={
            "model_name": mlflow.model_name,
            "version": version.version,
            "run_id": version.run_id,
            "tags": dg.MetadataValue.json(dict(version.tags)),
        }
    )


@dg.asset(group_name=GROUP, deps=[registered_model])
def champion(
    context: dg.AssetExecutionContext,
    config: PromotionConfig,
    lake: LakeResource,
    mlflow: RegistryResource,
    training_dataset: Any,
    calibrated_model: Any,
) -> dg.MaterializeResult[None]:
    """Point ``champion`` at the newest version only if its profile's gates pass (PROD also
    needs a paired-bootstrap win over the current champion on top-K net PnL)."""
    from csx_pipelines.stages import promote_latest

    outcome = promote_latest(
        lake.root, mlflow.registry(), config.profile, training_dataset, calibrated_model
    )
    gates = {g.gate: {"passed": g.passed, "detail": g.detail} for g in outcome.gates}
    if not outcome.promoted:
        context.log.warning(f"version {outcome.version} not promoted: {outcome.failed}")
    return dg.MaterializeResult(
        metadata={
            "version": outcome.version,
            "promoted": outcome.promoted,
            "previous": outcome.previous or "",
            "profile": config.profile,
            "gates": dg.MetadataValue.json(gates),
        }
    )
