"""The demo's held-out day is labelled before the package exists; the backtest uses those
labels only when the package was trained with the same label definition and cost model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pytest

from csx_core.ml.package import PackagedScorer, load_package
from csx_core.ml.synthetic import noise_package
from csx_pipelines import demo


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> PackagedScorer:
    return load_package(noise_package(tmp_path_factory.mktemp("pkg") / "package"))


def _prepared(tmp_path: Path, package: PackagedScorer, **changed: object) -> demo.PreparedHoldout:
    labelled = tmp_path / "labelled.arrow"
    feather.write_feather(pa.table({"ts": [1, 2, 3]}), labelled, compression="uncompressed")
    features = tmp_path / "features"
    (features / "date=2026-01-04").mkdir(parents=True)
    (features / "date=2026-01-04" / "features.parquet").write_bytes(b"")
    prepared = demo.PreparedHoldout(
        tmp_path / "events", features, labelled, package.label_config, package.cost, 1.0
    )
    return replace(prepared, **changed)  # type: ignore[arg-type]


def test_labels_prepared_with_the_packages_definition_are_used(
    package: PackagedScorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_label(*_: object, **__: object) -> pa.Table:
        raise AssertionError("the prepared labels fit the package")

    monkeypatch.setattr("csx_core.ml.evaluate.label_files", must_not_label)
    got = demo._holdout_labelled(package, _prepared(tmp_path, package))
    assert got.column("ts").to_pylist() == [1, 2, 3]


@pytest.mark.parametrize("differs", ["labels", "cost"])
def test_a_package_with_another_definition_is_labelled_anew(
    differs: str, package: PackagedScorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relabelled = pa.table({"ts": [9]})
    calls: list[tuple[PackagedScorer, list[Path]]] = []

    def label_files(pkg: PackagedScorer, files: list[Path]) -> pa.Table:
        calls.append((pkg, files))
        return relabelled

    monkeypatch.setattr("csx_core.ml.evaluate.label_files", label_files)
    other = (
        {"labels": replace(package.label_config, horizon_s=package.label_config.horizon_s * 2)}
        if differs == "labels"
        else {"cost": replace(package.cost, notional_usd=package.cost.notional_usd * 2)}
    )
    prepared = _prepared(tmp_path, package, **other)
    assert demo._holdout_labelled(package, prepared) is relabelled
    assert calls == [(package, [prepared.features / "date=2026-01-04" / "features.parquet"])]
