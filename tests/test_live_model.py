"""Model resolution for csx live: verified packages, refused tampering, DEV-only fallback,
clear errors for missing sources, and the engine/model feature check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csx_core.features import EngineConfig, FeatureEngine
from csx_core.ml.baseline import BaselineScorer
from csx_core.ml.calibration import Calibrator
from csx_core.ml.synthetic import noise_package
from csx_core.ranking.ranker import Ranker, RankerConfig
from csx_core.ranking.tick import TickPipeline
from csx_live import model as model_module
from csx_live.config import Profile
from csx_live.model import ModelUnavailableError, load_model
from csx_live.queue import DropOldestQueue
from csx_live.runner import Runner
from csx_live.state import LiveState


def engine_package(out: Path, *, rows: int = 600, seed: int = 0) -> Path:
    """A real (small) LightGBM package on the engine's FEATURE_NAMES, written by the core."""
    return noise_package(
        out,
        seed=seed,
        rows=rows,
        training={"data_digest": f"test-digest-{seed}", "labels": {"horizon_s": 60}},
    )


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return engine_package(tmp_path_factory.mktemp("models") / "pkg")


def test_a_package_directory_loads_verified(package: Path) -> None:
    loaded = load_model(str(package), profile=Profile.PROD)
    assert loaded.info.verified
    assert not loaded.info.fallback
    assert loaded.info.model_id == loaded.scorer.model_id
    assert loaded.info.data_digest == "test-digest-0"
    assert loaded.info.model_id.startswith("lgbm-")
    assert loaded.cost is not None


def test_a_tampered_package_is_refused_in_every_profile(package: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "pkg"
    shutil.copytree(package, copy)
    model = copy / "model.txt"
    model.write_text(model.read_text() + "\n")
    for profile in Profile:
        with pytest.raises(ModelUnavailableError, match="verification"):
            load_model(str(copy), profile=profile)


def test_dev_falls_back_to_the_packaged_baseline_prod_does_not(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_: Path) -> object:
        raise RuntimeError("lightgbm cannot build this model")

    monkeypatch.setattr(model_module, "load_package", broken)
    loaded = load_model(str(package), profile=Profile.DEV)
    assert loaded.info.fallback
    assert loaded.info.model_id == "baseline-v1"
    with pytest.raises(ModelUnavailableError, match="champion could not be loaded"):
        load_model(str(package), profile=Profile.PROD)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "no model_source configured"),
        ("/nonexistent/pkg", "does not exist"),
        ("models:/csx-inplay@champion", "mlflow_tracking_uri"),
        ("models:/a/b/c", "cannot parse"),
    ],
)
def test_unavailable_sources_say_why(
    source: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ModelUnavailableError, match=message):
        load_model(source, profile=Profile.DEV)


def test_a_model_on_other_features_is_refused_by_the_runner(package: Path) -> None:
    loaded = load_model(str(package), profile=Profile.DEV)
    runner = Runner(
        state=LiveState(),
        queue=DropOldestQueue(10),
        decode=lambda frame, ts: (),
        engine=FeatureEngine(EngineConfig()),
    )
    runner.use_pipeline(TickPipeline(loaded.scorer, Ranker(RankerConfig())), loaded.cost)
    narrowed = BaselineScorer(
        names=("not_an_engine_feature",),
        calibrator=Calibrator("platt"),
        term_means=np.zeros(3),
    )
    with pytest.raises(ValueError, match="features the engine lacks"):
        runner.use_pipeline(TickPipeline(narrowed, Ranker(RankerConfig())), None)


@pytest.fixture
def champion(package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A real MLflow registry (sqlite) holding ``package``, registered and aliased
    ``champion`` by the project's registry code: (tracking URI, version)."""
    from csx_pipelines.registry import ModelRegistry

    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    registry = ModelRegistry(uri, artifact_location=(tmp_path / "artifacts").as_uri())
    run_id = registry.log_run(package_dir=package, params={}, metrics={})
    version = registry.register(run_id, tags={})
    registry.force_promote(version)
    return uri, version


@pytest.mark.slow
def test_the_champion_alias_resolves_to_a_pinned_verified_version(
    package: Path, champion: tuple[str, str], tmp_path: Path
) -> None:
    """The champion resolved and loaded by csx live."""
    uri, version = champion
    loaded = load_model(
        "models:/csx-inplay@champion",
        profile=Profile.PROD,
        tracking_uri=uri,
        cache_dir=tmp_path / "cache",
    )
    assert (loaded.info.version, loaded.info.alias) == (version, "champion")
    assert loaded.info.verified
    assert loaded.info.model_id == load_model(str(package), profile=Profile.PROD).info.model_id


# Loads ``models:/csx-inplay@champion`` and reports whether MLflow entered this process.
FETCH_DRIVER = """
import json, sys
from pathlib import Path
from csx_live.config import Profile
from csx_live.model import champion_gate_record, load_model

uri, cache = sys.argv[1], Path(sys.argv[2])
loaded = load_model("models:/csx-inplay@champion", profile=Profile.PROD, tracking_uri=uri,
                    cache_dir=cache)
gate = champion_gate_record(loaded.info.source, loaded.info.version, uri, loaded.version_tags)
print(json.dumps({"version": loaded.info.version, "verified": loaded.info.verified,
                  "gate": gate, "mlflow": "mlflow" in sys.modules}))
"""


@pytest.mark.slow
def test_the_champion_is_fetched_by_a_child_and_mlflow_stays_out_of_the_runner(
    champion: tuple[str, str], tmp_path: Path
) -> None:
    """The runner's interpreter never imports MLflow (~3.5 s of its GIL while symbols warm
    up): the version, its digest pin and its gate tags all come back from the child."""
    import json
    import subprocess
    import sys

    uri, version = champion
    out = subprocess.run(
        [sys.executable, "-c", FETCH_DRIVER, uri, str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert (got["version"], got["verified"], got["mlflow"]) == (version, True, False)
    ok, note = got["gate"]
    assert ok  # a forced promotion: an override, noted
    assert note.startswith("champion v")


@pytest.mark.slow
def test_a_fetch_that_fails_names_mlflows_reason(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ModelUnavailableError, match=r"cannot fetch models:/nobody: .*nobody"):
        load_model(
            "models:/nobody@champion",
            profile=Profile.DEV,
            tracking_uri=uri,
            cache_dir=tmp_path / "cache",
        )


def test_the_fetch_child_reports_bad_input_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from csx_live.model_fetch import main

    assert main([]) == 1
    assert main(["{not json"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["ValueError", "JSONDecodeError"]


def test_a_fetch_without_an_answer_in_time_is_refused_and_its_child_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import sys
    import time

    pidfile = tmp_path / "child.pid"
    silent = tmp_path / "silent-python"  # answers nothing for ten minutes
    silent.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 600\n")
    silent.chmod(0o755)
    monkeypatch.setattr(model_module, "FETCH_TIMEOUT_S", 1.0)
    monkeypatch.setattr(sys, "executable", str(silent))
    began = time.monotonic()
    with pytest.raises(ModelUnavailableError, match=r"models:/csx-inplay: no answer within 1 s"):
        load_model(
            "models:/csx-inplay@champion",
            profile=Profile.DEV,
            tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
            cache_dir=tmp_path / "cache",
        )
    # Not a speed check: a loader that waited for the child would take its ten minutes.
    assert time.monotonic() - began < 120
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left sleeping
        os.kill(int(pidfile.read_text()), 0)
