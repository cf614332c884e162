"""Re-evaluate the serving champion on the newest day of replayed features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def evaluate_champion(data_dir: Path, registry: Any) -> dict[str, float | str]:
    from csx_core.ml.dataset import feature_files, labelled_sample
    from csx_core.ml.frame import matrix
    from csx_core.ml.labels import LabelConfig
    from csx_core.ml.metrics import brier, ece, roc_auc
    from csx_core.ml.package import load_package

    version = registry.champion()
    if version is None:
        raise RuntimeError("no champion to evaluate: promote a model first")
    package = load_package(registry.download(version, data_dir / "training" / "nightly"))
    files = feature_files(data_dir / "features")
    if not files:
        raise RuntimeError(f"no replayed features under {data_dir / 'features'}")
    labels_cfg = LabelConfig(**package.contents.training["labels"])
    table = labelled_sample(files[-1:], package.cost, labels_cfg, stride_s=10)
    usable = np.asarray(table.column("warm").to_numpy(zero_copy_only=False), dtype=bool)
    table = table.filter(usable)
    y = np.asarray(table.column("in_play").to_numpy(zero_copy_only=False), dtype=bool)
    scores = package.score(
        matrix(table, package.feature_names), reason_rows=np.empty(0, dtype=np.int64)
    )
    promoted = registry.version_metrics(version)
    now_ece = float(ece(y, scores.p))
    return {
        "version": version,
        "day": files[-1].parent.name.removeprefix("date="),
        "rows": float(len(y)),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "roc_auc": float(roc_auc(y, scores.p)),
        "brier": float(brier(y, scores.p)),
        "ece": now_ece,
        "promoted_ece": float(promoted.get("model.ece", float("nan"))),
        "ece_drift": now_ece - float(promoted.get("model.ece", now_ece)),
    }
