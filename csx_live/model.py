"""Resolve, verify and load the scorer the runner serves.

``model_source`` is either a model package directory or an MLflow URI
``models:/<name>@<alias>`` (``champion``) / ``models:/<name>/<version>``. An MLflow source is
resolved to a version once and that pinned version is downloaded, by a child process
(``csx_live.model_fetch``: importing MLflow would cost the runner ~3.5 s of its GIL while
symbols warm up). Every package's SHA-256 manifest is verified before use (no pickle).

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
import importlib
import json
import logging
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from csx_core.ml.costs import CostModel
from csx_core.ml.package import MANIFEST, PackageIntegrityError, load_package, read_package
from csx_core.ml.scorer import Scorer
from csx_live.config import Profile
from csx_live.model_fetch import DIGEST_TAG
from csx_live.state import ModelInfo

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 300.0
"""The longest a model fetch (resolve + download) may take before the source is refused."""

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


class ModelUnavailableError(RuntimeError):
    """No scorer can be served; the message says why (it shows in /readyz)."""


@dataclass(frozen=True)
class LoadedModel:
    """``version_tags``: the MLflow version's tags as fetched with it (None for a package
    directory); the champion's gate record is read from them."""

    scorer: Scorer
    info: ModelInfo
    cost: CostModel | None
    version_tags: dict[str, str] | None = field(default=None, compare=False)


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
    tags: dict[str, str] | None = None
    if match:
        pkg_dir, version, alias, recorded, tags = _download(
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
        return LoadedModel(baseline, info, contents.cost, tags)
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
    return LoadedModel(scorer, info, scorer.cost, tags)


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
) -> tuple[Path, str, str, str, dict[str, str]]:
    """Resolve the alias to a version and download that version's package, in a child
    process (``csx_live.model_fetch``); (dir, version, alias, the package digest recorded
    with the version or "", the version's tags)."""
    if not tracking_uri:
        raise ModelUnavailableError("an MLflow model source needs mlflow_tracking_uri")
    ask = {
        "name": name,
        "alias": alias,
        "version": version,
        "tracking_uri": tracking_uri,
        "cache_dir": str(cache_dir),
    }
    argv = [sys.executable, "-m", "csx_live.model_fetch", json.dumps(ask)]
    pipe = subprocess.PIPE
    # S603: this interpreter, this package's module
    with subprocess.Popen(argv, stdout=pipe, stderr=pipe) as child:  # noqa: S603
        _import_scorer_library()
        try:
            stdout, stderr = child.communicate(timeout=FETCH_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            child.kill()
            child.communicate()
            raise ModelUnavailableError(
                f"cannot fetch models:/{name}: no answer within {FETCH_TIMEOUT_S:.0f} s"
            ) from exc
    if child.returncode != 0:
        lines = stderr.decode(errors="replace").strip().splitlines()
        why = lines[-1] if lines else f"the fetch exited with code {child.returncode}"
        raise ModelUnavailableError(f"cannot fetch models:/{name}: {why}")
    try:
        got = json.loads(stdout.decode().strip().splitlines()[-1])
        tags = {str(k): str(v) for k, v in got["tags"].items()}
        root, found = Path(got["dir"]), str(got["version"])
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:
        raise ModelUnavailableError(f"cannot fetch models:/{name}: unreadable answer") from exc
    recorded = (tags.get(DIGEST_TAG, "").strip() or str(got.get("run_digest", ""))).lower()
    manifests = sorted(root.rglob(MANIFEST))
    pkg_dir = manifests[0].parent if manifests else root
    return pkg_dir, found, alias or "", recorded.strip(), tags


def _import_scorer_library() -> None:
    """Import LightGBM while the fetch child runs: the package load needs it, and it takes
    ~1.5 s (most of it scikit-learn), which the child's ~4 s of importing MLflow and
    resolving the version then hides instead of adding to. A failed import is left for
    the load to report (and, in DEV, to fall back from)."""
    try:
        importlib.import_module("lightgbm")
    except ImportError:
        return


def champion_gate_record(
    source: str, version: str, tracking_uri: str, tags: dict[str, str] | None = None
) -> tuple[bool, str] | None:
    """The gate record of ``version`` when ``source`` names it through an alias
    (``models:/<name>@<alias>``), as ``LiveState.model_gate``: (ok, note), note "" when the
    record passes. None for a package directory or a pinned version (chosen explicitly).

    The alias can be moved by hand in the MLflow UI, around the promotion gates; this reads
    the tags ``ModelRegistry.promote``/``force_promote`` leave and applies the same verdict
    as the Dagster check (``csx_pipelines.promotion.champion_gate_status``). ``tags``: the
    version's tags as fetched with the package (``LoadedModel.version_tags``); without them
    they are read from MLflow. A record that cannot be read counts as missing."""
    match = _MODELS_URI.match(source)
    if not match or not match["alias"] or not version:
        return None
    from csx_pipelines.promotion import champion_gate_status

    if tags is None:
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
