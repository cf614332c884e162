"""The MLflow model registry as CryptoScreener-X uses it.

A model version is the plain-file model package (LightGBM text model, calibrator JSON,
manifest of SHA-256 sums) logged as run artifacts; no pickle, no pyfunc flavour. The
``champion`` alias names the served version; every alias change is appended to a
registered-model tag so ``rollback`` can return to the previous champion.

MLflow is imported inside methods: ``import mlflow`` costs ~2 s and the Dagster definitions
and the CLI must start fast.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csx_pipelines.promotion import (
    GATES_PASSED_TAG,
    GATES_TAG,
    PROMOTED_BY_TAG,
    GateRecordStatus,
    GateResult,
    champion_gate_status,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHAMPION = "champion"
HISTORY_TAG = "csx.champion_history"
PACKAGE_ARTIFACT_PATH = "package"


def default_tracking_uri(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'mlflow' / 'mlflow.db').resolve()}"


def default_artifact_location(data_dir: Path) -> str:
    return (data_dir / "mlflow" / "artifacts").resolve().as_uri()


@dataclass(frozen=True)
class VersionInfo:
    version: str
    run_id: str
    source: str
    aliases: tuple[str, ...]
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PromotionOutcome:
    version: str
    promoted: bool
    previous: str | None
    gates: tuple[GateResult, ...]

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]


class ModelRegistry:
    """Training runs, model versions and the champion alias in one MLflow tracking store."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        model_name: str = "csx-inplay",
        experiment: str = "csx-inplay",
        artifact_location: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.experiment = experiment
        self.artifact_location = artifact_location

    # -- runs -------------------------------------------------------------------------------
    def log_run(
        self,
        *,
        package_dir: Path,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        artifacts: Iterable[Path] = (),
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Log one training run (params, metrics, report files and the package); return its id."""
        client = self._client()
        run = client.create_run(self._experiment_id(client), tags=dict(tags or {}))
        run_id: str = run.info.run_id
        try:
            _log_batches(client, run_id, params=params, metrics=metrics)
            for path in artifacts:
                if path.is_dir():
                    client.log_artifacts(run_id, str(path), path.name)
                else:
                    client.log_artifact(run_id, str(path), "report")
            client.log_artifacts(run_id, str(package_dir), PACKAGE_ARTIFACT_PATH)
        except BaseException:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id)
        return run_id

    def register(self, run_id: str, *, tags: Mapping[str, str]) -> str:
        """Create a model version from the run's package; return the version number."""
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            client.create_registered_model(self.model_name)
        except MlflowException as exc:
            if "already exists" not in str(exc).lower() and "RESOURCE_ALREADY_EXISTS" not in str(
                exc
            ):
                raise
        run = client.get_run(run_id)
        version = client.create_model_version(
            self.model_name,
            source=f"{run.info.artifact_uri}/{PACKAGE_ARTIFACT_PATH}",
            run_id=run_id,
            tags=dict(tags),
        )
        return str(version.version)

    # -- aliases ----------------------------------------------------------------------------
    def champion(self) -> str | None:
        return self._alias_version(CHAMPION)

    def promote(self, version: str, gates: Iterable[GateResult]) -> PromotionOutcome:
        """Point ``champion`` at ``version`` only if every gate passed; record the verdict."""
        results = tuple(gates)
        client = self._client()
        previous = self.champion()
        promoted = all(g.passed for g in results)
        verdict = {g.gate: {"passed": g.passed, "detail": g.detail} for g in results}
        client.set_model_version_tag(self.model_name, version, GATES_TAG, json.dumps(verdict))
        client.set_model_version_tag(
            self.model_name, version, GATES_PASSED_TAG, "true" if promoted else "false"
        )
        if promoted:
            client.set_model_version_tag(self.model_name, version, PROMOTED_BY_TAG, "gates")
        if promoted and previous != version:
            self._set_champion(client, version)
        return PromotionOutcome(version, promoted, previous, results)

    def force_promote(self, version: str) -> None:
        """Operator override (CLI ``--force``): set the champion without gates."""
        client = self._client()
        client.get_model_version(self.model_name, version)  # fails clearly if unknown
        client.set_model_version_tag(self.model_name, version, PROMOTED_BY_TAG, "force")
        self._set_champion(client, version)

    def rollback(self) -> str:
        """Return ``champion`` to the version it named before; return that version."""
        client = self._client()
        history = self._history(client)
        if len(history) < 2:
            raise RuntimeError(f"{self.model_name}: no earlier champion to roll back to")
        history.pop()
        target = history[-1]
        client.set_registered_model_alias(self.model_name, CHAMPION, target)
        client.set_registered_model_tag(self.model_name, HISTORY_TAG, json.dumps(history))
        return target

    # -- reading ----------------------------------------------------------------------------
    def champion_gate_status(self) -> GateRecordStatus | None:
        """The gate record of the version ``champion`` names now (None: no champion); not ok
        when the alias was moved around the gates (by hand, in the MLflow UI)."""
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            found = client.get_model_version_by_alias(self.model_name, CHAMPION)
        except MlflowException:
            return None
        return champion_gate_status(str(found.version), dict(found.tags or {}))

    def versions(self) -> list[VersionInfo]:
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            model = client.get_registered_model(self.model_name)
        except MlflowException:
            return []
        # search_model_versions() returns empty aliases in MLflow 3: read them from the model.
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        found = client.search_model_versions(f"name='{self.model_name}'")
        return sorted(
            (
                VersionInfo(
                    version=str(v.version),
                    run_id=v.run_id or "",
                    source=v.source or "",
                    aliases=tuple(sorted(aliases.get(str(v.version), []))),
                    tags=dict(v.tags or {}),
                )
                for v in found
            ),
            key=lambda v: int(v.version),
        )

    def log_evaluation(
        self, version: str, prefix: str, metrics: Mapping[str, float], report_dir: Path
    ) -> None:
        """Add an evaluation of ``version`` on other data (e.g. a held-out day) to its
        training run: metrics as ``<prefix>.<name>``, the report files under ``<prefix>/``."""
        client = self._client()
        run_id = client.get_model_version(self.model_name, version).run_id
        if not run_id:
            raise ValueError(f"version {version} has no training run to log to")
        _log_batches(client, run_id, metrics={f"{prefix}.{k}": v for k, v in metrics.items()})
        client.log_artifacts(run_id, str(report_dir), prefix)

    def version_metrics(self, version: str) -> dict[str, float]:
        """The metrics logged by the training run that produced ``version``."""
        client = self._client()
        run_id = client.get_model_version(self.model_name, version).run_id
        return dict(client.get_run(run_id).data.metrics) if run_id else {}

    def download(self, ref: str, dst: Path) -> Path:
        """Fetch a version's package (``ref`` is a version number or an alias) into ``dst``."""
        import mlflow

        uri = (
            f"models:/{self.model_name}/{ref}"
            if ref.isdigit()
            else (f"models:/{self.model_name}@{ref}")
        )
        dst.mkdir(parents=True, exist_ok=True)
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(dst), tracking_uri=self.tracking_uri
        )
        return Path(path)

    # -- internals --------------------------------------------------------------------------
    def _client(self) -> MlflowClient:
        import mlflow
        from mlflow import MlflowClient

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        # models:/ URIs resolve through the global tracking URI, not a client's own.
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    def _experiment_id(self, client: MlflowClient) -> str:
        existing = client.get_experiment_by_name(self.experiment)
        if existing is not None:
            return str(existing.experiment_id)
        return str(
            client.create_experiment(self.experiment, artifact_location=self.artifact_location)
        )

    def _alias_version(self, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            return str(client.get_model_version_by_alias(self.model_name, alias).version)
        except MlflowException:
            return None

    def _history(self, client: MlflowClient) -> list[str]:
        model = client.get_registered_model(self.model_name)
        raw = (model.tags or {}).get(HISTORY_TAG, "[]")
        return [str(v) for v in json.loads(raw)]

    def _set_champion(self, client: MlflowClient, version: str) -> None:
        history = self._history(client)
        history.append(version)
        client.set_registered_model_alias(self.model_name, CHAMPION, version)
        client.set_registered_model_tag(self.model_name, HISTORY_TAG, json.dumps(history))


BATCH_PARAMS = 100
BATCH_METRICS = 1000
"""MLflow's limits per ``log_batch`` request."""


def _log_batches(
    client: MlflowClient,
    run_id: str,
    *,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
) -> None:
    """``params`` and ``metrics`` in ``log_batch`` requests, in key order: one store
    transaction each instead of one per value (a run's ~210 metrics took 1.8 s one by one
    on the SQLite store, 0.04 s in one batch)."""
    from mlflow.entities import Metric, Param

    now_ms = int(time.time() * 1000)
    rows = [Param(k, str(v)) for k, v in sorted((params or {}).items())]
    for i in range(0, len(rows), BATCH_PARAMS):
        client.log_batch(run_id, params=rows[i : i + BATCH_PARAMS])
    values = [Metric(k, float(v), now_ms, 0) for k, v in sorted((metrics or {}).items())]
    for i in range(0, len(values), BATCH_METRICS):
        client.log_batch(run_id, metrics=values[i : i + BATCH_METRICS])
