"""The MLflow registry: runs, versions, gated promotion, rollback, download by alias."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from csx_pipelines.promotion import (
    AUC_DELTA_CI_LOW,
    ECE,
    PNL_VS_CHAMPION_CI_LOW,
    POLICY_NET,
    POLICY_NET_CI_LOW,
    POLICY_TRADES,
    POLICY_VS_BASELINE_CI_HIGH,
    TOPK_PRECISION_DELTA_CI_LOW,
    Profile,
    evaluate_gates,
)
from csx_pipelines.registry import ModelRegistry

GOOD = {
    ECE: 0.02,
    AUC_DELTA_CI_LOW: 0.05,
    TOPK_PRECISION_DELTA_CI_LOW: 0.03,
    POLICY_TRADES: 400.0,
    POLICY_NET: 2.5,
    POLICY_NET_CI_LOW: 0.4,
    POLICY_VS_BASELINE_CI_HIGH: 3.0,
}
# A model that ranks well but loses money per trade, more than the baseline does.
MONEY_LOSING = {
    **GOOD,
    POLICY_NET: -17.0,
    POLICY_NET_CI_LOW: -21.0,
    POLICY_VS_BASELINE_CI_HIGH: -0.8,
}


def make_package(root: Path, marker: str) -> Path:
    pkg = root / f"pkg-{marker}"
    pkg.mkdir()
    (pkg / "model.txt").write_text(f"tree {marker}\n")
    (pkg / "MANIFEST.json").write_text(json.dumps({"files": {"model.txt": marker}}))
    return pkg


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )


def register(
    registry: ModelRegistry, tmp_path: Path, marker: str, metrics: dict[str, float]
) -> str:
    run_id = registry.log_run(
        package_dir=make_package(tmp_path, marker),
        params={"horizon_s": 300},
        metrics=metrics,
        tags={"csx.marker": marker},
    )
    return registry.register(run_id, tags={"data_digest": f"d-{marker}", "cost_model": "cm-1"})


@pytest.mark.parametrize(
    ("metrics", "failed"),
    [
        (GOOD, set()),
        ({**GOOD, ECE: 0.2}, {"calibration"}),
        ({**GOOD, AUC_DELTA_CI_LOW: -0.01}, {"beats_baseline_auc"}),
        (
            {ECE: 0.01},
            {"beats_baseline_auc", "beats_baseline_topk", "policy_not_worse_than_baseline"},
        ),
        (MONEY_LOSING, {"policy_not_worse_than_baseline"}),
        # Calls no direction at all: no trade, nothing lost, and the gate says so.
        ({**GOOD, POLICY_TRADES: 0.0, POLICY_VS_BASELINE_CI_HIGH: float("nan")}, set()),
    ],
)
def test_dev_gates(metrics: dict[str, float], failed: set[str]) -> None:
    results = evaluate_gates(metrics, Profile.DEV, has_champion=False)
    assert {g.gate for g in results if not g.passed} == failed


def test_prod_is_stricter_than_dev() -> None:
    metrics = {**GOOD, ECE: 0.04}
    assert all(g.passed for g in evaluate_gates(metrics, Profile.DEV, has_champion=True))
    prod = evaluate_gates(metrics, Profile.PROD, has_champion=True)
    assert {g.gate for g in prod if not g.passed} == {"calibration", "beats_champion_pnl"}
    ok = evaluate_gates({**GOOD, PNL_VS_CHAMPION_CI_LOW: 1.5}, Profile.PROD, has_champion=True)
    assert all(g.passed for g in ok)


def test_prod_refuses_a_money_losing_model_even_when_it_beats_the_baseline() -> None:
    # Better than the baseline per trade, but still negative with its CI below zero.
    losing = {**GOOD, POLICY_NET: -2.0, POLICY_NET_CI_LOW: -5.0, POLICY_VS_BASELINE_CI_HIGH: 9.0}
    assert all(g.passed for g in evaluate_gates(losing, Profile.DEV, has_champion=False))
    prod = evaluate_gates(losing, Profile.PROD, has_champion=False)
    assert {g.gate for g in prod if not g.passed} == {"policy_profitable"}
    no_trades = evaluate_gates({**GOOD, POLICY_TRADES: 0.0}, Profile.PROD, has_champion=False)
    assert {g.gate for g in no_trades if not g.passed} == {"policy_profitable"}
    for money_losing in (MONEY_LOSING, losing):
        assert not all(
            g.passed for g in evaluate_gates(money_losing, Profile.PROD, has_champion=False)
        )


def test_gated_promotion_rollback_and_download(registry: ModelRegistry, tmp_path: Path) -> None:
    v1 = register(registry, tmp_path, "one", GOOD)
    assert registry.champion() is None
    outcome = registry.promote(
        v1, evaluate_gates(registry.version_metrics(v1), Profile.DEV, has_champion=False)
    )
    assert outcome.promoted
    assert registry.champion() == v1

    bad = register(registry, tmp_path, "bad", {**GOOD, ECE: 0.5})
    refused = registry.promote(
        bad, evaluate_gates(registry.version_metrics(bad), Profile.DEV, has_champion=True)
    )
    assert not refused.promoted
    assert [g.gate for g in refused.failed] == ["calibration"]
    assert registry.champion() == v1

    v3 = register(registry, tmp_path, "three", GOOD)
    assert registry.promote(v3, evaluate_gates(GOOD, Profile.DEV, has_champion=True)).promoted
    assert registry.champion() == v3
    listed = {v.version: v for v in registry.versions()}
    assert listed[v3].aliases == ("champion",)
    assert listed[v1].tags["data_digest"] == "d-one"
    assert json.loads(listed[bad].tags["csx.gates"])["calibration"]["passed"] is False

    assert registry.rollback() == v1
    assert registry.champion() == v1
    with pytest.raises(RuntimeError, match="no earlier champion"):
        registry.rollback()

    path = registry.download("champion", tmp_path / "dl")
    assert (path / "model.txt").read_text() == "tree one\n"


def test_a_run_keeps_every_param_and_metric_past_one_batch(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    params = {f"p{i:03d}": i for i in range(150)}  # over MLflow's 100 params per batch
    metrics = {f"m{i:04d}": i / 7 for i in range(1200)}  # and its 1,000 metrics
    run_id = registry.log_run(
        package_dir=make_package(tmp_path, "batch"), params=params, metrics=metrics
    )
    version = registry.register(run_id, tags={})
    registry.log_evaluation(version, "holdout", {"roc_auc": 0.75}, make_package(tmp_path, "r"))
    data = MlflowClient(registry.tracking_uri).get_run(run_id).data
    assert data.params == {k: str(v) for k, v in params.items()}
    assert data.metrics == {**metrics, "holdout.roc_auc": 0.75}
