"""Issue 19 item 7: the ``champion`` alias moved by hand (MLflow UI), around the promotion
gates, is noticed: by the pure verdict, by the Dagster monitoring check and by the live runner
(/readyz reason, ``csx_model_gate_ok``; blocking in PROD, reported but ready in DEV).

A real local sqlite MLflow registry in ``tmp_path``: v1 promoted through the gates, v2 (gates
failed) and v3 (never gated) registered, then the alias moved with
``MlflowClient.set_registered_model_alias`` exactly as the UI does."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from csx_pipelines.promotion import (
    GATES_PASSED_TAG,
    GATES_TAG,
    PROMOTED_BY_TAG,
    Profile,
    champion_gate_status,
    evaluate_gates,
)
from csx_pipelines.registry import CHAMPION, ModelRegistry
from tests.test_live_model import engine_package
from tests.test_registry import GOOD

pytestmark = pytest.mark.slow  # a real MLflow store and LightGBM package (still run in CI)

BAD = {**GOOD, "model.ece": 0.5}


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return engine_package(tmp_path_factory.mktemp("models") / "pkg")


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return ModelRegistry(
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )


def register(registry: ModelRegistry, package: Path, metrics: dict[str, float]) -> str:
    run_id = registry.log_run(package_dir=package, params={}, metrics=metrics)
    return registry.register(run_id, tags={})


def gate(registry: ModelRegistry, version: str) -> bool:
    metrics = registry.version_metrics(version)
    has_champion = registry.champion() is not None
    return registry.promote(
        version, evaluate_gates(metrics, Profile.DEV, has_champion=has_champion)
    ).promoted


def move_alias_by_hand(registry: ModelRegistry, version: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(registry.tracking_uri, registry_uri=registry.tracking_uri)
    client.set_registered_model_alias(registry.model_name, CHAMPION, version)


@pytest.fixture
def drifted(registry: ModelRegistry, package: Path) -> dict[str, str]:
    """v1 gated champion, v2 failed its gates, v3 never gated; nothing moved yet."""
    v1 = register(registry, package, GOOD)
    assert gate(registry, v1)
    v2 = register(registry, package, BAD)
    assert not gate(registry, v2)
    v3 = register(registry, package, GOOD)
    assert registry.champion() == v1
    return {"gated": v1, "failed": v2, "ungated": v3}


# -- the pure verdict -------------------------------------------------------------------------
def test_promotion_records_the_verdict_and_who_promoted(
    registry: ModelRegistry, drifted: dict[str, str]
) -> None:
    tags = {v.version: v.tags for v in registry.versions()}
    assert tags[drifted["gated"]][GATES_PASSED_TAG] == "true"
    assert tags[drifted["gated"]][PROMOTED_BY_TAG] == "gates"
    assert tags[drifted["failed"]][GATES_PASSED_TAG] == "false"
    assert PROMOTED_BY_TAG not in tags[drifted["failed"]]
    assert GATES_TAG not in tags[drifted["ungated"]]
    status = registry.champion_gate_status()
    assert status is not None
    assert status.ok
    assert not status.override


@pytest.mark.parametrize(
    ("kind", "why"), [("ungated", "no gate record"), ("failed", "failed: calibration")]
)
def test_an_alias_moved_by_hand_is_reported(
    registry: ModelRegistry, drifted: dict[str, str], kind: str, why: str
) -> None:
    version = drifted[kind]
    move_alias_by_hand(registry, version)
    status = registry.champion_gate_status()
    assert status is not None
    assert not status.ok
    assert not status.override
    assert status.reason == f"champion v{version} has no passing gate record ({why})"


def test_a_forced_promotion_is_an_override_not_missing(
    registry: ModelRegistry, drifted: dict[str, str]
) -> None:
    registry.force_promote(drifted["ungated"])
    status = registry.champion_gate_status()
    assert status is not None
    assert status.ok
    assert status.override
    assert "force-promoted" in status.reason
    assert "no gate record" not in status.reason


def test_an_unreadable_or_empty_record_is_not_a_pass() -> None:
    assert not champion_gate_status("4", {GATES_TAG: "{not json"}).ok
    assert not champion_gate_status("4", {GATES_TAG: "{}"}).ok
    assert champion_gate_status("4", {GATES_TAG: json.dumps({"x": {"passed": True}})}).ok


# -- the Dagster monitoring check -------------------------------------------------------------
def check_result(registry: ModelRegistry) -> object:
    from csx_pipelines.assets import monitoring
    from csx_pipelines.resources import RegistryResource

    return monitoring.champion_has_passing_gate_record(
        mlflow=RegistryResource(tracking_uri=registry.tracking_uri)
    )


def test_the_monitoring_check_fails_with_the_reason(
    registry: ModelRegistry, drifted: dict[str, str]
) -> None:
    ok = check_result(registry)
    assert ok.passed  # type: ignore[attr-defined]
    move_alias_by_hand(registry, drifted["ungated"])
    bad = check_result(registry)
    assert not bad.passed  # type: ignore[attr-defined]
    reason = f"champion v{drifted['ungated']} has no passing gate record (no gate record)"
    assert bad.description == reason  # type: ignore[attr-defined]
    assert bad.metadata["reason"].value == reason  # type: ignore[attr-defined]


def test_the_check_is_part_of_the_nightly_backtest_job() -> None:
    from csx_pipelines.definitions import defs

    names = {spec.name for check in defs.asset_checks or [] for spec in check.check_specs}
    assert "champion_has_passing_gate_record" in names


# -- the live runner --------------------------------------------------------------------------
def live_parts(registry: ModelRegistry, tmp_path: Path, profile: str) -> object:
    from csx_live.app import build_live
    from csx_live.config import load_settings
    from tests.test_live_runner import json_decode

    settings = load_settings(
        env={},
        overrides={
            "profile": profile,
            "rest_url": "http://127.0.0.1:9",
            "ws_url": "ws://127.0.0.1:9",
            "sink_dir": str(tmp_path / f"live-{profile}"),
            "model_source": f"models:/{registry.model_name}@{CHAMPION}",
            "mlflow_tracking_uri": registry.tracking_uri,
        },
    )
    return build_live(settings, decode=json_decode, wall_ns=lambda: 1)


def load_champion(parts: object) -> None:
    from csx_live.app import _load_model, default_model_loader

    asyncio.run(_load_model(parts, default_model_loader))  # type: ignore[arg-type]


def make_otherwise_ready(parts: object) -> None:
    state = parts.state  # type: ignore[attr-defined]
    state.connected = lambda: True
    state.last_event_wall_ns = state.last_tick_ns = 1
    state.last_tick_wall_ns = 1


@pytest.mark.parametrize("profile", ["PROD", "DEV"])
def test_the_live_runner_reports_a_hand_moved_champion(
    registry: ModelRegistry, drifted: dict[str, str], tmp_path: Path, profile: str
) -> None:
    version = drifted["ungated"]
    move_alias_by_hand(registry, version)
    parts = live_parts(registry, tmp_path, profile)
    load_champion(parts)
    state = parts.state  # type: ignore[attr-defined]
    assert state.model is not None
    assert state.model.version == version
    make_otherwise_ready(parts)
    ready, reasons = state.readiness(1, 10.0)
    reason = f"model_gate_failed: champion v{version} has no passing gate record (no gate record)"
    assert reasons == [reason]
    # PROD: /readyz 503 with the reason; DEV: the reason is reported, the runner stays ready
    assert ready is (profile == "DEV")
    sample = parts.registry.get_sample_value  # type: ignore[attr-defined]
    assert sample("csx_model_gate_ok") == 0.0
    assert sample("csx_ready") == (1.0 if profile == "DEV" else 0.0)


def test_the_live_runner_serves_a_gated_or_forced_champion_as_ready(
    registry: ModelRegistry, drifted: dict[str, str], tmp_path: Path
) -> None:
    parts = live_parts(registry, tmp_path, "PROD")
    load_champion(parts)
    make_otherwise_ready(parts)
    state = parts.state  # type: ignore[attr-defined]
    assert state.readiness(1, 10.0) == (True, [])
    assert parts.registry.get_sample_value("csx_model_gate_ok") == 1.0  # type: ignore[attr-defined]

    registry.force_promote(drifted["ungated"])
    forced = live_parts(registry, tmp_path / "forced", "PROD")
    load_champion(forced)
    make_otherwise_ready(forced)
    ready, reasons = forced.state.readiness(1, 10.0)  # type: ignore[attr-defined]
    assert ready
    assert len(reasons) == 1
    assert reasons[0].startswith("model_gate_override: ")
    assert forced.registry.get_sample_value("csx_model_gate_ok") == 1.0  # type: ignore[attr-defined]


def test_a_package_directory_is_not_gate_checked(package: Path) -> None:
    from csx_live.model import champion_gate_record

    assert champion_gate_record(str(package), "", "") is None
    assert champion_gate_record("models:/csx-inplay/3", "3", "sqlite:///x.db") is None
