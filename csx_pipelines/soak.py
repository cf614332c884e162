"""The nightly soak: the one place the platform launches the live runtime."""

from __future__ import annotations

from pathlib import Path

from csx_core.soak import SoakSummary


def thresholds_file() -> Path:
    """The soak thresholds file ``csx soak`` judges with (package data of ``csx_core.soak``)."""
    from csx_core.soak import DEFAULT_THRESHOLDS

    return DEFAULT_THRESHOLDS


def run_nightly_soak(data_dir: Path, *, minutes: float, profile: str) -> tuple[SoakSummary, str]:
    from csx_live.soak import run_soak  # the soak runner lives with the runtime

    summary = run_soak(data_dir=data_dir / "soak", minutes=minutes, profile=profile)
    return summary, check(summary)[1]


def check(summary: SoakSummary) -> tuple[bool, str]:
    from csx_core.soak import check_summary, format_results, load_thresholds

    results = check_summary(summary, load_thresholds(thresholds_file(), summary.profile))
    return all(r.passed for r in results), format_results(results)
