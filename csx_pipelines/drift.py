"""Re-evaluate the serving champion on the newest day of replayed features."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def evaluate_champion(data_dir: Path, registry: Any) -> dict[str, Any]:
    """The champion backtested on the newest replayed day (``csx_core.ml.evaluate``: the
    same evaluation as its test folds, label-policy trades included), beside the ECE it was
    promoted with."""
    from csx_core.ml.dataset import feature_files
    from csx_core.ml.evaluate import backtest_package, label_files
    from csx_core.ml.package import load_package

    version = registry.champion()
    if version is None:
        raise RuntimeError("no champion to evaluate: promote a model first")
    package = load_package(registry.download(version, data_dir / "training" / "nightly"))
    files = feature_files(data_dir / "features")
    if not files:
        raise RuntimeError(f"no replayed features under {data_dir / 'features'}")
    day = files[-1].parent.name.removeprefix("date=")
    report = backtest_package(
        package, label_files(package, files[-1:]), data_label=f"newest replayed day {day}"
    )
    model, baseline = report.metrics["model"], report.metrics["baseline"]
    promoted = registry.version_metrics(version)
    now_ece = float(model["ece"])
    return {
        "version": version,
        "day": day,
        "rows": float(report.n_rows),
        "base_rate": report.base_rate,
        "roc_auc": float(model["roc_auc"]),
        "brier": float(model["brier"]),
        "ece": now_ece,
        "promoted_ece": float(promoted.get("model.ece", float("nan"))),
        "ece_drift": now_ece - float(promoted.get("model.ece", now_ece)),
        "policy_net_bps": float(model["policy_net_bps"]),
        "policy_net_bps_ci": report.intervals["model"]["policy_net_bps"],
        "baseline_policy_net_bps": float(baseline["policy_net_bps"]),
        "direction_accuracy": float(model["direction_accuracy"]),
        "policy_trades": float(model["policy_trades"]),
        "report_md": report.to_markdown(),
    }
