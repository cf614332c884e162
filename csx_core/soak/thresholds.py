"""Soak thresholds: a YAML file of per-profile bounds and a checker that explains itself.

The project's thresholds ship inside this package (``DEFAULT_THRESHOLDS``, package data, so
an installed wheel has them; ``monitoring/soak_thresholds.yml`` links to the same file for
operators). File shape::

    profiles:
      baseline:
        reconnect_time_p99_s: {max: 5}
        outages_without_gap_entry: {max: 0}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from csx_core.soak.summary import SoakSummary

DEFAULT_THRESHOLDS = Path(__file__).with_name("soak_thresholds.yml")
"""The thresholds the soak and its Dagster check judge with (package data)."""


@dataclass(frozen=True)
class Threshold:
    measure: str
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class ThresholdResult:
    threshold: Threshold
    value: float

    @property
    def passed(self) -> bool:
        t = self.threshold
        if math.isnan(self.value):
            return False
        if t.minimum is not None and self.value < t.minimum:
            return False
        return not (t.maximum is not None and self.value > t.maximum)


def load_thresholds(path: Path, profile: str) -> list[Threshold]:
    """Read one profile; a malformed file fails naming the profile and measure."""
    document = yaml.safe_load(path.read_text())
    profiles = (document or {}).get("profiles")
    if not isinstance(profiles, Mapping) or profile not in profiles:
        known = sorted(profiles) if isinstance(profiles, Mapping) else []
        raise ValueError(f"{path}: no profile {profile!r} (have {known})")
    return parse_profile(profiles[profile], where=f"{path}:{profile}")


def parse_profile(entries: Any, *, where: str) -> list[Threshold]:
    if not isinstance(entries, Mapping):
        raise ValueError(f"{where}: must map measure names to bounds")
    out = []
    for measure, bounds in entries.items():
        if not isinstance(bounds, Mapping) or not set(bounds) <= {"min", "max"} or not bounds:
            raise ValueError(f"{where}.{measure}: must be {{min: x}} and/or {{max: y}}")
        for key, value in bounds.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{where}.{measure}.{key}: must be a number, got {value!r}")
        out.append(Threshold(str(measure), bounds.get("min"), bounds.get("max")))
    return out


def check_summary(summary: SoakSummary, thresholds: Sequence[Threshold]) -> list[ThresholdResult]:
    """Every threshold with the measured value; an unknown measure is an error, not a pass."""
    return [ThresholdResult(t, summary.value(t.measure)) for t in thresholds]


def format_results(results: Sequence[ThresholdResult]) -> str:
    """A fixed-width table, failures first, that reads well in CI logs."""
    rows = sorted(results, key=lambda r: (r.passed, r.threshold.measure))
    width = max([len("measure"), *(len(r.threshold.measure) for r in rows)])
    lines = [f"{'':4} {'measure':<{width}} {'value':>14} {'bound':>16}"]
    for r in rows:
        t = r.threshold
        bound = " and ".join(
            part
            for part in (
                f">= {t.minimum:g}" if t.minimum is not None else "",
                f"<= {t.maximum:g}" if t.maximum is not None else "",
            )
            if part
        )
        verdict = "ok" if r.passed else "FAIL"
        lines.append(f"{verdict:<4} {t.measure:<{width}} {r.value:>14.4g} {bound:>16}")
    return "\n".join(lines)
