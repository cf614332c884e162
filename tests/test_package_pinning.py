"""Package pinning (issue 22): the manifest proves the files match each other, not that they
are the package that was trained. A package whose files *and* manifest were rewritten must be
refused against the digest the pipeline recorded (MLflow) or the configured one (a package
directory), and a package whose model cannot be built is never served as ``verified``."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from csx_core.ml.package import MANIFEST
from csx_core.ml.synthetic import noise_package
from csx_live.config import Profile
from csx_live.model import DIGEST_TAG, ModelUnavailableError, load_model


def digest_of(pkg: Path) -> str:
    return hashlib.sha256((pkg / MANIFEST).read_bytes()).hexdigest()


def rewrite(pkg: Path, name: str, data: bytes) -> str:
    """Replace one file and rewrite the manifest to match, canonically (what an attacker with
    write access to the package can do); returns the new package digest."""
    (pkg / name).write_bytes(data)
    manifest = json.loads((pkg / MANIFEST).read_bytes())
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    text = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=True) + "\n"
    (pkg / MANIFEST).write_bytes(text.encode())
    return digest_of(pkg)


def altered_model(pkg: Path) -> bytes:
    """The same model with every leaf value flipped in sign: still a valid LightGBM model."""
    lines = (pkg / "model.txt").read_text().splitlines(keepends=True)
    out = []
    for line in lines:
        if line.startswith("leaf_value="):
            values = line.removeprefix("leaf_value=").split()
            line = "leaf_value=" + " ".join(str(-float(v)) for v in values) + "\n"
        out.append(line)
    return "".join(out).encode()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return noise_package(
        tmp_path_factory.mktemp("models") / "pkg",
        rows=300,
        training={"data_digest": "pin-digest", "labels": {"horizon_s": 60}},
    )


@pytest.fixture
def copy(package: Path, tmp_path: Path) -> Path:
    out = tmp_path / "pkg"
    shutil.copytree(package, out)
    return out


def test_a_pinned_package_loads_verified(package: Path) -> None:
    loaded = load_model(str(package), profile=Profile.PROD, expected_digest=digest_of(package))
    assert loaded.info.verified
    assert not loaded.info.fallback


def test_a_rewritten_model_and_manifest_is_refused_against_the_expected_digest(
    copy: Path,
) -> None:
    expected = digest_of(copy)
    actual = rewrite(copy, "model.txt", altered_model(copy))
    assert actual != expected
    # The manifest alone cannot tell: unpinned, the rewritten package still verifies.
    assert load_model(str(copy), profile=Profile.PROD).info.verified
    for profile in Profile:
        with pytest.raises(ModelUnavailableError) as caught:
            load_model(str(copy), profile=profile, expected_digest=expected)
        message = str(caught.value)
        assert "digest mismatch" in message
        assert f"expected {expected}" in message
        assert f"actual {actual}" in message


def test_a_truncated_model_with_a_rewritten_manifest_is_never_verified(copy: Path) -> None:
    expected = digest_of(copy)
    model = (copy / "model.txt").read_bytes()
    # Cut inside the header, where LightGBM raises (cut inside a tree, this LightGBM aborts
    # the process; cut near the end, it loads: only the pinned digest catches that).
    rewrite(copy, "model.txt", model[: len(model) // 20])
    # Pinned: refused in every profile, before any fallback.
    for profile in Profile:
        with pytest.raises(ModelUnavailableError, match="digest mismatch"):
            load_model(str(copy), profile=profile, expected_digest=expected)
    # Unpinned: PROD refuses; DEV serves the baseline but does not call it verified.
    with pytest.raises(ModelUnavailableError, match="could not be loaded"):
        load_model(str(copy), profile=Profile.PROD)
    loaded = load_model(str(copy), profile=Profile.DEV)
    assert loaded.info.fallback
    assert not loaded.info.verified


def test_the_expected_digest_setting_reaches_the_loader(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from csx_live.app import default_model_loader
    from csx_live.config import load_settings

    expected = digest_of(copy)
    rewrite(copy, "model.txt", altered_model(copy))
    settings = load_settings(
        env={"CSX_MODEL_SOURCE": str(copy), "CSX_EXPECTED_PACKAGE_DIGEST": expected}
    )
    assert settings.expected_package_digest == expected
    with pytest.raises(ModelUnavailableError, match="digest mismatch"):
        default_model_loader(settings)


@pytest.mark.slow
def test_an_mlflow_version_is_checked_against_its_recorded_digest(
    package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real MLflow registry (sqlite): the version records the package digest as the
    pipeline does; rewriting the stored package and its manifest is refused on load."""
    from csx_pipelines.registry import ModelRegistry

    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = tmp_path / "artifacts"
    registry = ModelRegistry(uri, artifact_location=store.as_uri())
    digest = digest_of(package)
    run_id = registry.log_run(package_dir=package, params={}, metrics={})
    version = registry.register(run_id, tags={DIGEST_TAG: digest})
    registry.force_promote(version)

    loaded = load_model(
        "models:/csx-inplay@champion",
        profile=Profile.PROD,
        tracking_uri=uri,
        cache_dir=tmp_path / "cache-ok",
    )
    assert loaded.info.verified
    assert loaded.info.version == version

    stored = sorted(store.rglob(MANIFEST))
    assert stored
    for manifest in stored:
        actual = rewrite(manifest.parent, "model.txt", altered_model(manifest.parent))
    for source in ("models:/csx-inplay@champion", f"models:/csx-inplay/{version}"):
        with pytest.raises(ModelUnavailableError) as caught:
            load_model(
                source,
                profile=Profile.DEV,
                tracking_uri=uri,
                cache_dir=tmp_path / f"cache-{source.rsplit('/', 1)[-1]}",
            )
        message = str(caught.value)
        assert f"expected {digest} (recorded with models:/csx-inplay/{version})" in message
        assert f"actual {actual}" in message
