"""Resolve, verify and load the scorer the runner serves.

``model_source`` is either a model package directory or an MLflow URI
``models:/<name>@<alias>`` (``champion``) / ``models:/<name>/<version>``. An MLflow source is
resolved to a version once and that pinned version is downloaded (MLflow is imported only
here, lazily: ~2 s). Every package's SHA-256 manifest is verified before use (no pickle).

The manifest only proves the files match each other; whoever can rewrite a file can rewrite
the manifest too. So the package digest (SHA-256 of the manifest bytes) is also pinned: an
MLflow version is checked against the ``package_digest`` tag the pipeline recorded when it
registered the version, and a package directory against ``expected_digest`` (the
``expected_package_digest`` setting) when one is configured. A mismatch refuses the package
in every profile.

DEV profile: when the package verifies but its LightGBM model cannot be built, the package's
own calibrated baseline scorer is served, flagged ``fallback`` and ``verified=False`` (a
package whose model does not build is corrupt, whatever its manifest says). PROD never falls
back: the runner stays not-ready without a verified champion.
"""

from __future__ import annotations

import hashlib
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

DIGEST_TAG = "package_digest"
"""The model-version tag (and run tag) the pipeline records the package digest under."""

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


class ModelUnavailableError(RuntimeError):
    """No scorer can be served; the message says why (it shows in /readyz)."""


@dataclass(frozen=True)
class LoadedModel:
    scorer: Scorer
    info: ModelInfo
    cost: CostModel | None


def load_model(
    source: str,
    *,
    profile: Profile,
    tracking_uri: str = "",
    cache_dir: Path | None = None,
    expected_digest: str = "",
) -> LoadedModel:
    """Resolve, verify and load ``source``; ``expected_digest`` pins the package digest
    (SHA-256 of ``MANIFEST.json``) on top of the one an MLflow version records."""
    if not source:
        raise ModelUnavailableError(
            "no model_source configured (CSX_MODEL_SOURCE: a package directory or "
            "models:/<name>@champion)"
        )
    match = _MODELS_URI.match(source)
    if match:
        pkg_dir, version, alias, recorded = _download(
            match["name"],
            match["alias"],
            match["version"],
            tracking_uri,
            cache_dir or Path("data/live/models"),
        )
        pins = [(f"recorded with models:/{match['name']}/{version}", recorded)]
        if not recorded:
            log.warning(
                "models:/%s/%s records no %s tag: only its manifest can be checked",
                match["name"],
                version,
                DIGEST_TAG,
            )
    elif source.startswith("models:/"):
        raise ModelUnavailableError(f"cannot parse model URI {source!r}")
    else:
        pkg_dir, version, alias, pins = Path(source), "", "", []
    pins.append(("configured (expected_package_digest)", expected_digest.strip().lower()))
    if not pkg_dir.is_dir():
        raise ModelUnavailableError(f"model package directory {pkg_dir} does not exist")
    _check_digest(pkg_dir, pins)
    try:
        scorer = load_package(pkg_dir)
    except PackageIntegrityError as exc:
        raise ModelUnavailableError(f"package failed verification: {exc}") from exc
    except Exception as exc:
        if profile is Profile.PROD:
            raise ModelUnavailableError(f"champion could not be loaded: {exc}") from exc
        try:
            contents = read_package(pkg_dir)
        except PackageIntegrityError as integrity:
            raise ModelUnavailableError(f"package failed verification: {integrity}") from exc
        _check_digest(pkg_dir, pins)
        log.warning(
            "serving the package's baseline scorer (DEV fallback, verified=False): the "
            "package's model cannot be built, so the package is corrupt: %s",
            exc,
        )
        info = ModelInfo(
            model_id=contents.baseline.model_id,
            version=version,
            alias=alias,
            data_digest=str(contents.training.get("data_digest", "")),
            source=source,
            verified=False,
            fallback=True,
        )
        baseline = contents.baseline.with_edge(contents.edge_tables.get("baseline"))
        return LoadedModel(baseline, info, contents.cost)
    # The digest load_package computed is of the manifest it read after verifying: check it
    # too, so a manifest swapped between the first check and the load is caught.
    _check_digest(pkg_dir, pins, actual=scorer.digest)
    info = ModelInfo(
        model_id=scorer.model_id,
        version=version,
        alias=alias,
        data_digest=str(scorer.contents.training.get("data_digest", "")),
        source=source,
        verified=True,
    )
    return LoadedModel(scorer, info, scorer.cost)


def _check_digest(pkg_dir: Path, pins: list[tuple[str, str]], actual: str = "") -> None:
    """Refuse the package unless its digest equals every non-empty pin."""
    wanted = [(label, digest) for label, digest in pins if digest]
    if not wanted:
        return
    if not actual:
        manifest = pkg_dir / MANIFEST
        if not manifest.is_file():
            raise ModelUnavailableError(f"package failed verification: {manifest} is missing")
        actual = hashlib.sha256(manifest.read_bytes()).hexdigest()
    for label, digest in wanted:
        if actual != digest:
            raise ModelUnavailableError(
                f"package digest mismatch for {pkg_dir}: expected {digest} ({label}), "
                f"actual {actual} (SHA-256 of {MANIFEST}); refusing the package"
            )


def _download(
    name: str, alias: str | None, version: str | None, tracking_uri: str, cache_dir: Path
) -> tuple[Path, str, str, str]:
    """Resolve the alias to a version, download that version's package;
    (dir, version, alias, the package digest recorded with the version or "")."""
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
            found = client.get_model_version_by_alias(name, alias)
        else:
            found = client.get_model_version(name, str(version))
        version = str(found.version)
        recorded = str((found.tags or {}).get(DIGEST_TAG, "")).strip().lower()
        if not recorded and found.run_id:
            recorded = str(client.get_run(found.run_id).data.tags.get(DIGEST_TAG, ""))
            recorded = recorded.strip().lower()
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
    return pkg_dir, str(version), alias or "", recorded


def champion_gate_record(source: str, version: str, tracking_uri: str) -> tuple[bool, str] | None:
    """The gate record of ``version`` when ``source`` names it through an alias
    (``models:/<name>@<alias>``), as ``LiveState.model_gate``: (ok, note), note "" when the
    record passes. None for a package directory or a pinned version (chosen explicitly).

    The alias can be moved by hand in the MLflow UI, around the promotion gates; this reads
    the tags ``ModelRegistry.promote``/``force_promote`` leave and applies the same verdict
    as the Dagster check (``csx_pipelines.promotion.champion_gate_status``). A record that
    cannot be read counts as missing."""
    match = _MODELS_URI.match(source)
    if not match or not match["alias"] or not version:
        return None
    from csx_pipelines.promotion import champion_gate_status

    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
        tags = dict(client.get_model_version(match["name"], version).tags or {})
    except Exception as exc:
        return (False, f"champion v{version}: cannot read its gate record: {exc}")
    status = champion_gate_status(version, tags)
    if status.ok and not status.override:
        return (True, "")
    return (status.ok, status.reason)
