"""monitoring: nightly re-evaluation of the champion and the fault-injection soak."""

import json
from typing import Any

import dagster as dg

from csx_core.soak import SoakSummary
from csx_pipelines.resources import LakeResource, RegistryResource
from csx_pipelines.soak import check, run_nightly_soak

GROUP = "monitoring"
MAX_ECE_DRIFT = 0.05


@dg.asset(group_name=GROUP)
def champion_backtest(lake: LakeResource, mlflow: RegistryResource) -> dg.Output[dict[str, Any]]:
    """The serving champion scored on the newest replayed day it was not trained on, next
    to the metrics it was promoted with: the drift record."""
    from csx_pipelines.drift import evaluate_champion

    drift = evaluate_champion(lake.root, mlflow.registry())
    report = drift.pop("report_md")
    return dg.Output(
        drift,
        metadata={
            "drift": dg.MetadataValue.json(drift),
            "report": dg.MetadataValue.md(report),
        },
    )


@dg.asset_check(asset=champion_backtest)
def champion_calibration_holds(champion_backtest: dict[str, Any]) -> dg.AssetCheckResult:
    """Calibration on new data stays within ``MAX_ECE_DRIFT`` of the promoted ECE."""
    drift = float(champion_backtest["ece_drift"])
    return dg.AssetCheckResult(
        passed=drift <= MAX_ECE_DRIFT,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"ece_drift": drift, "max": MAX_ECE_DRIFT},
    )


@dg.asset_check(asset=champion_backtest)
def champion_has_passing_gate_record(mlflow: RegistryResource) -> dg.AssetCheckResult:
    """The version ``champion`` names has a passing gate record (or a recorded operator
    override, ``csx model promote --force``): fails when the alias was moved around the
    gates, e.g. by hand in the MLflow UI. Reads the registry, not the asset's value."""
    status = mlflow.registry().champion_gate_status()
    if status is None:
        return dg.AssetCheckResult(
            passed=False, description="no champion alias", metadata={"reason": "no champion"}
        )
    return dg.AssetCheckResult(
        passed=status.ok,
        description=status.reason,
        metadata={
            "version": status.version,
            "override": status.override,
            "reason": status.reason,
        },
    )


class SoakConfig(dg.Config):
    minutes: float = 2.0
    profile: str = "baseline"


@dg.asset(group_name=GROUP)
def soak_summary(config: SoakConfig, lake: LakeResource) -> dg.Output[SoakSummary]:
    """A fault-injection soak of the live runner against the fake exchange."""
    summary, results = run_nightly_soak(lake.root, minutes=config.minutes, profile=config.profile)
    return dg.Output(
        summary,
        metadata={
            "summary": dg.MetadataValue.json(json.loads(summary.to_json())),
            "thresholds": dg.MetadataValue.md("```\n" + results + "\n```"),
        },
    )


@dg.asset_check(asset=soak_summary, blocking=True)
def soak_within_thresholds(soak_summary: SoakSummary) -> dg.AssetCheckResult:
    """Every soak threshold of the run's profile holds."""
    passed, table = check(soak_summary)
    return dg.AssetCheckResult(
        passed=passed, metadata={"table": dg.MetadataValue.md("```\n" + table + "\n```")}
    )
