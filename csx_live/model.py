"""Resolve, verify and load the scorer the runner serves.

``model_source`` is either a model package directory or an MLflow URI
``models:/<name>@<alias>`` (``champion``) / ``models:/<name>/<version>``. An MLflow source is
resolved to a version once and that pinned version is downloaded (MLflow is imported only
here, lazily: ~2 s). Every package's SHA-256 manifest is verified before use (no pickle).

DEV profile: when the package verifies but its LightGBM model cannot be built, the package's
own calibrated baseline scorer is served, flagged ``fallback``. PROD never falls back: the
runner stays not-ready without a verified champion.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from csx_core.ml.costs import CostModel
from csx_core.ml.package import MANIFEST, PackageIntegrityError, load_package, read_package
from csx_core.ml.scorer import Scorer
from csx_live.config import Profile
from csx_live.state import ModelInfo

log = logging.getLogger(__name__)

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


class ModelUnavailableError(RuntimeError):
    """No scorer can be served; the message says why (it shows in /readyz)."""


@dataclass(frozen=True)
class LoadedModel:
    scorer: Scorer
    info: ModelInfo
    cost: CostModel | None


def load_model(
    source: str, *, profile: Profile, tracking_uri: str = "", cache_dir: Path | None = None
) -> LoadedModel:
    if not source:
        raise ModelUnavailableError(
            "no model_source configured (CSX_MODEL_SOURCE: a package directory or "
            "models:/<name>@champion)"
        )
    match = _MODELS_URI.match(source)
    if match:
        pkg_dir, version, alias = _download(
            match["name"],
            match["alias"],
            match["version"],
            tracking_uri,
            cache_dir or Path("data/live/models"),
        )
    elif source.startswith("models:/"):
        raise ModelUnavailableError(f"cannot parse model URI {source!r}")
    else:
        pkg_dir, version, alias = Path(source), "", ""
    if not pkg_dir.is_dir():
        raise ModelUnavailableError(f"model package directory {pkg_dir} does not exist")
    try:
        scorer = load_package(pkg_dir)
    except PackageIntegrityError as exc:
        raise ModelUnavailableError(f"package failed verification: {exc}") from exc
    except Exception as exc:
        if profile is Profile.PROD:
            raise ModelUnavailableError(f"champion could not be loaded: {exc}") from exc
        contents = read_package(pkg_dir)
        log.warning("serving the package's baseline scorer (DEV fallback): %s", exc)
        info = ModelInfo(
            model_id=contents.baseline.model_id,
            version=version,
            alias=alias,
            data_digest=str(contents.training.get("data_digest", "")),
            source=source,
            verified=True,
            fallback=True,
        )
        return LoadedModel(contents.baseline, info, contents.cost)
    info = ModelInfo(
        model_id=scorer.model_id,
        version=version,
        alias=alias,
        data_digest=str(scorer.contents.training.get("data_digest", "")),
        source=source,
        verified=True,
    )
    return LoadedModel(scorer, info, scorer.cost)


def _download(
    name: str, alias: str | None, version: str | None, tracking_uri: str, cache_dir: Path
) -> tuple[Path, str, str]:
    """Resolve the alias to a version, download that version's package; (dir, version, alias)."""
    uri = tracking_uri
    if not uri:
        raise ModelUnavailableError("an MLflow model source needs mlflow_tracking_uri")
    try:
        import mlflow
        from mlflow import MlflowClient

        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        client = MlflowClient(uri, registry_uri=uri)
        if alias:
            version = str(client.get_model_version_by_alias(name, alias).version)
        dst = cache_dir / f"{name}-v{version}"
        dst.mkdir(parents=True, exist_ok=True)
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=str(dst), tracking_uri=uri
        )
    except Exception as exc:
        raise ModelUnavailableError(f"cannot fetch models:/{name}: {exc}") from exc
    root = Path(path)
    manifests = sorted(root.rglob(MANIFEST))
    pkg_dir = manifests[0].parent if manifests else root
    return pkg_dir, str(version), alias or ""
