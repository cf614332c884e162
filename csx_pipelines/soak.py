"""The nightly soak: the one place the platform launches the live runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

THRESHOLDS = Path(__file__).resolve().parent.parent / "monitoring" / "soak_thresholds.yml"


def run_nightly_soak(data_dir: Path, *, minutes: float, profile: str) -> tuple[Any, str]:
    from csx_live.soak import run_soak  # the soak runner lives with the runtime

    summary = run_soak(data_dir=data_dir / "soak", minutes=minutes, profile=profile)
    return summary, check(summary)[1]


def check(summary: Any) -> tuple[bool, str]:
    from csx_core.soak import check_summary, format_results, load_thresholds

    results = check_summary(summary, load_thresholds(THRESHOLDS, summary.profile))
    return all(r.passed for r in results), format_results(results)
