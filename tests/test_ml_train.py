"""End to end on a planted-signal table: train_and_evaluate, the report, the package."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csx_core.ml.backtest import BacktestConfig
from csx_core.ml.frame import matrix
from csx_core.ml.labels import LabelConfig
from csx_core.ml.lgbm import LgbmParams
from csx_core.ml.package import FILES, MANIFEST, PackageIntegrityError, load_package
from csx_core.ml.plots import PLOT_FILES
from csx_core.ml.splits import SplitConfig
from csx_core.ml.synthetic import synthetic_feature_table
from csx_core.ml.train import TrainConfig, TrainResult, build_dataset, train_and_evaluate


def small_config(out: Path) -> TrainConfig:
    return TrainConfig(
        out_dir=out,
        labels=LabelConfig(horizon_s=60, threshold_bps=-4.0, volume_feature="quote_vol_60s"),
        splits=SplitConfig(n_folds=2, test_frac=0.2),
        lgbm=LgbmParams(max_rounds=120, learning_rate=0.1, early_stopping_rounds=20),
        backtest=BacktestConfig(k=3, n_boot=100, n_blocks=30),
    )


@pytest.fixture(scope="module")
def features():  # type: ignore[no-untyped-def]
    return synthetic_feature_table(n_symbols=12, n_ticks=5000, seed=0)


@pytest.fixture(scope="module")
def trained(features, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:  # type: ignore[no-untyped-def]
    return train_and_evaluate(features, small_config(tmp_path_factory.mktemp("run")))


def test_model_beats_baseline_on_the_planted_signal(trained: TrainResult) -> None:
    report = trained.report
    assert report.beats_baseline("roc_auc", "precision_at_k", "pr_auc"), report.to_markdown()
    assert report.metrics["model"]["ece"] <= 0.05
    assert report.metrics["model"]["roc_auc"] > 0.8
    assert trained.audit.ok


def test_report_files_are_written(trained: TrainResult) -> None:
    report = json.loads((trained.report_dir / "report.json").read_text())
    assert set(report["metrics"]) == {"model", "baseline", "random"}
    markdown = (trained.report_dir / "report.md").read_text()
    assert "model − baseline" in markdown
    assert "net bps per trade (label policy)" in markdown
    assert "net bps per trade (hold to H)" in markdown
    assert json.loads((trained.report_dir / "split_audit.json").read_text())["ok"] is True
    for name in PLOT_FILES:
        assert (trained.report_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_package_loads_and_scores_like_the_trained_model(trained: TrainResult, features) -> None:  # type: ignore[no-untyped-def]
    scorer = load_package(trained.package_dir)
    assert scorer.model_id == trained.model_id
    assert scorer.digest == trained.package_digest
    assert scorer.cost.version == trained.cost_version
    assert scorer.horizon_s == 60
    info = scorer.contents.training
    assert info["data_digest"] == trained.data_digest
    assert info["cost_version"] == trained.cost_version
    assert info["split_audit"]["ok"] is True
    x = matrix(features.slice(0, 50), scorer.feature_names)
    scores = scorer.score(x, reason_rows=np.arange(5))
    assert ((scores.p >= 0) & (scores.p <= 1)).all()
    assert set(scores.direction.tolist()) <= {-1, 0, 1}
    assert any(scores.reasons[:5])
    assert scores.reasons[5:] == [()] * 45
    fallback = scorer.baseline.score(x)
    assert fallback.p.shape == (50,)


def test_package_is_plain_text_with_a_complete_manifest(trained: TrainResult) -> None:
    manifest = json.loads((trained.package_dir / MANIFEST).read_text())
    assert sorted(manifest["files"]) == sorted(FILES)
    for name in FILES:
        data = (trained.package_dir / name).read_bytes()
        data.decode("utf-8")
        assert not data.startswith(b"\x80")


@pytest.fixture
def package_copy(trained: TrainResult, tmp_path: Path) -> Path:
    dst = tmp_path / "pkg"
    shutil.copytree(trained.package_dir, dst)
    return dst


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from((*FILES, MANIFEST)), where=st.floats(0, 1), bit=st.integers(0, 7))
def test_any_flipped_byte_is_detected(
    package_copy: Path, name: str, where: float, bit: int
) -> None:
    path = package_copy / name
    original = path.read_bytes()
    data = bytearray(original)
    pos = min(int(where * len(data)), len(data) - 1)
    data[pos] ^= 1 << bit
    path.write_bytes(bytes(data))
    try:
        expected = None if name == MANIFEST else re.escape(name)
        with pytest.raises(PackageIntegrityError, match=expected):
            load_package(package_copy)
    finally:
        path.write_bytes(original)


@pytest.mark.parametrize("name", ["model.txt", "calibrator.json", MANIFEST])
def test_missing_file_is_refused_by_name(package_copy: Path, name: str) -> None:
    (package_copy / name).unlink()
    with pytest.raises(PackageIntegrityError, match=name):
        load_package(package_copy)


def test_extra_file_is_refused_by_name(package_copy: Path) -> None:
    (package_copy / "evil.pkl").write_bytes(b"\x80\x04.")
    with pytest.raises(PackageIntegrityError, match=r"evil\.pkl"):
        load_package(package_copy)


def test_existing_package_is_not_overwritten_silently(trained: TrainResult, features) -> None:  # type: ignore[no-untyped-def]
    cfg = small_config(trained.package_dir.parent)
    with pytest.raises(FileExistsError):
        train_and_evaluate(features.slice(0, 100), cfg)


def test_training_is_deterministic(tmp_path: Path) -> None:
    table = synthetic_feature_table(n_symbols=6, n_ticks=3000, seed=5)
    cfg = small_config(tmp_path / "a")
    a = train_and_evaluate(table, cfg)
    b = train_and_evaluate(table, TrainConfig(**{**cfg.__dict__, "out_dir": tmp_path / "b"}))
    assert a.package_digest == b.package_digest
    # JSON text: the random reference's ranking metrics are NaN, and NaN != NaN.
    assert json.dumps(a.report.to_dict(), sort_keys=True) == json.dumps(
        b.report.to_dict(), sort_keys=True
    )


def test_a_fold_without_positives_fails_with_a_clear_error(tmp_path: Path, features) -> None:  # type: ignore[no-untyped-def]
    cfg = TrainConfig(out_dir=tmp_path, labels=LabelConfig(horizon_s=60, threshold_bps=1e6))
    ds = build_dataset(features, cfg)
    from csx_core.ml.train import fit_fold

    with pytest.raises(ValueError, match="needs both classes"):
        fit_fold(ds, ds.folds[0], cfg)


def test_path_attribution_is_additive_and_agrees_with_shap(
    trained: TrainResult,
    features,  # type: ignore[no-untyped-def]
) -> None:
    shap = load_package(trained.package_dir)
    path = load_package(trained.package_dir, reason_method="path")
    x = matrix(features.slice(1000, 300), shap.feature_names)
    raw = shap._scorer.raw_score(x)
    offset = raw - path._scorer.contributions(x).sum(axis=1)
    assert np.ptp(offset) < 1e-9
    c_shap = shap._scorer.contributions(x)
    c_path = path._scorer.contributions(x)
    assert np.corrcoef(c_shap.ravel(), c_path.ravel())[0, 1] > 0.8
    np.testing.assert_array_equal(path.score(x).p, shap.score(x).p)


def test_table_digest_is_the_sha256_of_the_tables_one_chunk_ipc_stream() -> None:
    import hashlib

    from csx_core.ml.train import table_digest

    part = pa.table(
        {
            "symbol": pa.array(["BTCUSDT", None, "ETHUSDT"]).dictionary_encode(),
            "ts": pa.array([1, 2, 3], pa.int64()),
            "x": pa.array([0.5, None, float("nan")]),
        }
    ).replace_schema_metadata({"feature_version": "fe-1"})
    table = pa.concat_tables([part, part, part])  # three chunks: hashed as one
    sink = pa.BufferOutputStream()
    combined = table.combine_chunks()
    with pa.ipc.new_stream(sink, combined.schema) as writer:
        writer.write_table(combined)
    reference = hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
    assert table_digest(table) == reference
    assert table_digest(part) != reference
