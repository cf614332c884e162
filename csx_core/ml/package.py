"""The model package: a directory of plain files plus a SHA-256 manifest.

Layout (every file listed in ``MANIFEST.json`` with its SHA-256 and size)::

    model.txt         LightGBM text model (in-play)
    direction.txt     LightGBM text model (direction, trained on in-play rows)
    calibrator.json   Platt/isotonic parameters
    features.json     feature names (model column order), feature version, medians
    cost_model.json   cost-model version + params
    baseline.json     the calibrated baseline (live fallback)
    training.json     data digest, label/split/LightGBM config, best iteration
    metrics.json      the backtest report
    direction_call.json  the direction calibrator and its abstention threshold
    edge_table.json   the backtest net edge tables (model, baseline): csx_core.ml.edge

Loading verifies every sum and refuses a tampered, missing or extra file, naming it. Nothing
is ever pickled: every file is text/JSON read by a typed loader.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from csx_core.contracts import ReasonCode
from csx_core.features.config import EngineConfig
from csx_core.ml.baseline import BaselineScorer
from csx_core.ml.calibration import Calibrator
from csx_core.ml.costs import CostModel
from csx_core.ml.direction import DirectionCall
from csx_core.ml.edge import EdgeTable
from csx_core.ml.labels import LabelConfig
from csx_core.ml.lgbm import LgbmScorer
from csx_core.ml.scorer import Scores

MANIFEST = "MANIFEST.json"
PACKAGE_FORMAT = "csx-model-package/2"
FILES = (
    "model.txt",
    "direction.txt",
    "calibrator.json",
    "features.json",
    "cost_model.json",
    "baseline.json",
    "training.json",
    "metrics.json",
    "direction_call.json",
    "edge_table.json",
)
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class PackageIntegrityError(ValueError):
    """A package file is missing, extra, or does not match its manifest sum."""


@dataclass(frozen=True)
class PackageContents:
    model_text: str
    direction_text: str
    calibrator: Calibrator
    names: tuple[str, ...]
    feature_version: str
    centers: FloatArray
    cost: CostModel
    baseline: BaselineScorer
    training: dict[str, Any]
    metrics: dict[str, Any]
    direction_call: DirectionCall
    edge_tables: dict[str, EdgeTable]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n").encode()


def write_package(out_dir: Path, contents: PackageContents, *, overwrite: bool = False) -> str:
    """Write atomically (temp dir + rename); returns the package digest (SHA-256 of the
    manifest bytes)."""
    files: dict[str, bytes] = {
        "model.txt": contents.model_text.encode(),
        "direction.txt": contents.direction_text.encode(),
        "calibrator.json": _dumps(contents.calibrator.to_dict()),
        "features.json": _dumps(
            {
                "names": list(contents.names),
                "feature_version": contents.feature_version,
                "centers": contents.centers.tolist(),
            }
        ),
        "cost_model.json": (contents.cost.to_json() + "\n").encode(),
        "baseline.json": _dumps(contents.baseline.to_dict()),
        "training.json": _dumps(contents.training),
        "metrics.json": _dumps(contents.metrics),
        "direction_call.json": _dumps(contents.direction_call.to_dict()),
        "edge_table.json": _dumps({n: t.to_dict() for n, t in contents.edge_tables.items()}),
    }
    manifest = {
        "format": PACKAGE_FORMAT,
        "files": {n: {"sha256": _sha256(b), "bytes": len(b)} for n, b in sorted(files.items())},
    }
    manifest_bytes = _dumps(manifest)
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"package directory {out_dir} exists")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, data in {**files, MANIFEST: manifest_bytes}.items():
            (tmp / name).write_bytes(data)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.chmod(0o755)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _sha256(manifest_bytes)


def verify_package(pkg_dir: Path) -> dict[str, bytes]:
    """Check the manifest against the directory; returns every file's verified bytes.

    The manifest itself must be byte-identical to its canonical JSON, so even an edit that
    keeps it parseable (whitespace) is refused; its SHA-256 is the package digest a registry
    records."""
    pkg_dir = Path(pkg_dir)
    manifest_path = pkg_dir / MANIFEST
    if not manifest_path.is_file():
        raise PackageIntegrityError(f"{pkg_dir}: {MANIFEST} is missing")
    manifest_bytes = manifest_path.read_bytes()
    try:
        manifest = json.loads(manifest_bytes)
        listed: dict[str, Any] = manifest["files"]
        fmt = manifest["format"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PackageIntegrityError(f"{pkg_dir}: {MANIFEST} is unreadable: {exc}") from exc
    if _dumps(manifest) != manifest_bytes:
        raise PackageIntegrityError(f"{pkg_dir}: {MANIFEST} is not in canonical form (edited)")
    if fmt != PACKAGE_FORMAT:
        raise PackageIntegrityError(f"{pkg_dir}: unknown package format {fmt!r}")
    present = {p.name for p in pkg_dir.iterdir()} - {MANIFEST}
    for name in sorted(set(FILES) - set(listed)):
        raise PackageIntegrityError(f"{pkg_dir}: {name} is not in the manifest")
    for name in sorted(present - set(listed)):
        raise PackageIntegrityError(f"{pkg_dir}: {name} is not in the manifest (extra file)")
    out: dict[str, bytes] = {}
    for name, entry in sorted(listed.items()):
        path = pkg_dir / name
        if name not in present or not path.is_file():
            raise PackageIntegrityError(f"{pkg_dir}: {name} is missing")
        data = path.read_bytes()
        if _sha256(data) != entry["sha256"] or len(data) != entry["bytes"]:
            raise PackageIntegrityError(f"{pkg_dir}: {name} does not match its SHA-256 sum")
        out[name] = data
    return out


def read_package(pkg_dir: Path) -> PackageContents:
    """Verify, then parse every file into typed values."""
    raw = verify_package(pkg_dir)
    features = json.loads(raw["features.json"])
    return PackageContents(
        model_text=raw["model.txt"].decode(),
        direction_text=raw["direction.txt"].decode(),
        calibrator=Calibrator.from_dict(json.loads(raw["calibrator.json"])),
        names=tuple(features["names"]),
        feature_version=features["feature_version"],
        centers=np.asarray(features["centers"], dtype=np.float64),
        cost=CostModel.from_json(raw["cost_model.json"].decode()),
        baseline=BaselineScorer.from_dict(json.loads(raw["baseline.json"])),
        training=json.loads(raw["training.json"]),
        metrics=json.loads(raw["metrics.json"]),
        direction_call=DirectionCall.from_dict(json.loads(raw["direction_call.json"])),
        edge_tables={
            n: EdgeTable.from_dict(t) for n, t in json.loads(raw["edge_table.json"]).items()
        },
    )


class PackagedScorer:
    """A verified package ready to score; implements :class:`csx_core.ml.scorer.Scorer`.
    ``baseline`` is the package's calibrated fallback scorer."""

    def __init__(
        self,
        contents: PackageContents,
        digest: str,
        predict_threads: int = 1,
        reason_method: str = "contrib",
    ) -> None:
        self.contents = contents
        self.digest = digest
        self.cost = contents.cost
        self.feature_version = contents.feature_version
        self.baseline = contents.baseline.with_edge(contents.edge_tables.get("baseline"))
        self._scorer = LgbmScorer(
            model_text=contents.model_text,
            direction_text=contents.direction_text,
            calibrator=contents.calibrator,
            names=contents.names,
            centers=contents.centers,
            predict_threads=predict_threads,
            reason_method=reason_method,
            direction_call=contents.direction_call,
            edge=contents.edge_tables.get("model"),
        )

    @property
    def model_id(self) -> str:
        return self._scorer.model_id

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._scorer.feature_names

    @property
    def edge(self) -> EdgeTable | None:
        """The model's backtest net edge table (None: the package has none)."""
        return self.contents.edge_tables.get("model")

    def promise(self) -> dict[str, Any] | None:
        """What the package's backtest measured for the model's top-K label-policy trades
        (test folds), with CIs; None when its report has no such numbers."""
        report = self.contents.metrics
        model = report.get("metrics", {}).get("model", {})
        if "policy_net_bps" not in model:
            return None
        ci = report.get("intervals", {}).get("model", {})

        def bounds(metric: str) -> list[float | None]:
            b = ci.get(metric, {})
            return [_finite(b.get("ci_low")), _finite(b.get("ci_high"))]

        return {
            "source": "backtest: top-K label-policy trades on the test folds",
            "net_bps": _finite(model.get("policy_net_bps")),
            "net_bps_ci": bounds("policy_net_bps"),
            "hit_rate": _finite(model.get("policy_hit_rate")),
            "hit_rate_ci": bounds("policy_hit_rate"),
            "trades": _finite(model.get("policy_trades")),
            "direction_accuracy": _finite(model.get("direction_accuracy")),
        }

    @property
    def horizon_s(self) -> int:
        return int(self.contents.training["labels"]["horizon_s"])

    @property
    def engine_config(self) -> EngineConfig:
        """The feature engine settings the model was trained on (the defaults for a package
        that predates recording them): a replay or a live runner serving it uses these."""
        return EngineConfig(**self.contents.training.get("engine", {}))

    @property
    def label_config(self) -> LabelConfig:
        return LabelConfig(**self.contents.training["labels"])

    def score(self, x: FloatArray, *, reason_rows: IntArray | None = None) -> Scores:
        return self._scorer.score(x, reason_rows=reason_rows)

    def reasons(self, x: FloatArray) -> list[tuple[ReasonCode, ...]]:
        return self._scorer.reasons(x)


def _finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def load_package(
    pkg_dir: Path, *, predict_threads: int = 1, reason_method: str = "contrib"
) -> PackagedScorer:
    """Verify every SHA-256 sum, then build the scorer; raises PackageIntegrityError.
    ``reason_method`` picks TreeSHAP (``"contrib"``) or leaf-path attribution (``"path"``)."""
    contents = read_package(pkg_dir)
    digest = _sha256((Path(pkg_dir) / MANIFEST).read_bytes())
    return PackagedScorer(contents, digest, predict_threads, reason_method)
