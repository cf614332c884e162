"""registry: the MLflow model version and the gated champion alias."""

import dagster as dg

from csx_core.ml.train import Dataset, FittedFold
from csx_pipelines.assets.training import TrainingConfig, backtest_report
from csx_pipelines.registry import PromotionOutcome, VersionInfo
from csx_pipelines.resources import LakeResource, RegistryResource
from csx_pipelines.stages import BacktestResult, promote_version, register_package

GROUP = "registry"


class PromotionConfig(dg.Config):
    profile: str = "DEV"


@dg.asset(group_name=GROUP, deps=[backtest_report])
def registered_model(
    config: TrainingConfig,
    lake: LakeResource,
    mlflow: RegistryResource,
    training_dataset: Dataset,
    calibrated_model: list[FittedFold],
    backtest_report: BacktestResult,
) -> dg.Output[str]:
    """The last fold's package as an MLflow model version, with its run's params, metrics,
    report and plots; tagged with data digest, code version, cost and feature versions. Its
    value is the version number, which ``champion`` gates."""
    version: VersionInfo = register_package(
        lake.root,
        mlflow.registry(),
        training_dataset,
        calibrated_model,
        backtest_report,
        config.train_config(lake.root),
    )
    return dg.Output(
        str(version.version),
        metadata={
            "model_name": mlflow.model_name,
            "version": version.version,
            "run_id": version.run_id,
            "tags": dg.MetadataValue.json(dict(version.tags)),
        },
    )


@dg.asset(
    group_name=GROUP,
    check_specs=[
        dg.AssetCheckSpec(
            "candidate_passed_its_gates",
            asset="champion",
            description="The version this run registered passed every promotion gate "
            "(otherwise the champion stays where it was, and this check names the gates).",
        )
    ],
)
def champion(
    context: dg.AssetExecutionContext,
    config: PromotionConfig,
    lake: LakeResource,
    mlflow: RegistryResource,
    registered_model: str,
    training_dataset: Dataset,
    calibrated_model: list[FittedFold],
) -> dg.MaterializeResult:  # type: ignore[type-arg]  # Dagster rejects the parametrised form with check specs
    """Point ``champion`` at the version this run registered, only if its profile's gates
    pass (DEV: label-policy net bps not worse than the baseline's; PROD: positive with its CI
    above 0 and a paired-bootstrap win over the current champion). Otherwise the champion
    stays and the metadata says why."""
    outcome: PromotionOutcome = promote_version(
        lake.root,
        mlflow.registry(),
        config.profile,
        registered_model,
        training_dataset,
        calibrated_model,
    )
    gates = {g.gate: {"passed": g.passed, "detail": g.detail} for g in outcome.gates}
    current = outcome.version if outcome.promoted else (outcome.previous or "none")
    verdict = (
        f"version {outcome.version} promoted to champion ({config.profile} gates passed)"
        if outcome.promoted
        else f"version {outcome.version} NOT promoted; the champion stays {current}. Failed: "
        + "; ".join(f"{g.gate} ({g.detail})" for g in outcome.failed)
    )
    if not outcome.promoted:
        context.log.warning(verdict)
    return dg.MaterializeResult(
        metadata={
            "version": outcome.version,
            "promoted": outcome.promoted,
            "champion": current,
            "previous": outcome.previous or "",
            "profile": config.profile,
            "verdict": verdict,
            "gates": dg.MetadataValue.json(gates),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="candidate_passed_its_gates",
                passed=outcome.promoted,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"verdict": verdict, "gates": dg.MetadataValue.json(gates)},
            )
        ],
    )
