"""Promotion gates: which evidence a model version needs before it becomes the champion.

Pure functions of the backtest metrics, so the Dagster asset, the CLI and the tests apply
exactly the same rules. Both profiles ask for calibration, a ranking win over the baseline,
and protect the trader on the label policy's net bps per trade (``csx_core.ml.backtest``):

* DEV: the model's label-policy net bps must not be worse than the baseline's (the paired
  CI of model − baseline must reach 0). A model that calls no direction at all makes no
  directional trade and passes this gate, saying so: it shows "either way", never a loss.
* PROD: a tighter calibration bound; the model's label-policy net bps per trade must be
  positive with its CI above 0; and, when a champion exists, a paired-bootstrap win over it
  on the same net bps.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Metric keys the backtest report provides (see csx_core.ml.backtest and flatten_report).
ECE = "model.ece"
AUC_DELTA_CI_LOW = "delta.roc_auc.ci_low"
TOPK_PRECISION_DELTA_CI_LOW = "delta.precision_at_k.ci_low"
POLICY_TRADES = "model.policy_trades"
POLICY_NET = "model.policy_net_bps"
POLICY_NET_CI_LOW = "model.policy_net_bps.ci_low"
POLICY_VS_BASELINE_CI_HIGH = "delta.policy_net_bps.ci_high"
PNL_VS_CHAMPION_CI_LOW = "vs_champion.policy_net_bps.ci_low"


MAX_ECE_DEV = 0.05
"""DEV gate: the test-fold ECE (equal-mass bins) a version may have and still be promoted."""
MAX_ECE_PROD = 0.03
"""PROD gate: the tighter calibration bound."""
CALIBRATION_CHECK_MAX_ECE = MAX_ECE_PROD
"""The training pipeline's blocking ``calibration_ece_within_bound`` check. It holds every run
to the PROD bound, whatever profile ``champion`` later gates with: a run whose ECE is above
0.03 stops at the check, so the DEV gate's looser bound only decides for versions gated
outside that run (``csx model promote``)."""


class Profile(enum.StrEnum):
    DEV = "DEV"
    PROD = "PROD"


@dataclass(frozen=True)
class PromotionGates:
    max_ece: float
    require_beats_baseline: bool
    require_policy_not_worse: bool
    require_policy_profitable: bool
    require_beats_champion: bool


GATES: dict[Profile, PromotionGates] = {
    Profile.DEV: PromotionGates(
        max_ece=MAX_ECE_DEV,
        require_beats_baseline=True,
        require_policy_not_worse=True,
        require_policy_profitable=False,
        require_beats_champion=False,
    ),
    Profile.PROD: PromotionGates(
        max_ece=MAX_ECE_PROD,
        require_beats_baseline=True,
        require_policy_not_worse=True,
        require_policy_profitable=True,
        require_beats_champion=True,
    ),
}


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    detail: str


def evaluate_gates(
    metrics: Mapping[str, float], profile: Profile, *, has_champion: bool
) -> list[GateResult]:
    """Every gate of ``profile`` with its verdict; a missing metric fails its gate."""
    gates = GATES[profile]
    results = [_at_most(metrics, ECE, gates.max_ece, "calibration")]
    if gates.require_beats_baseline:
        results.append(_above_zero(metrics, AUC_DELTA_CI_LOW, "beats_baseline_auc"))
        results.append(_above_zero(metrics, TOPK_PRECISION_DELTA_CI_LOW, "beats_baseline_topk"))
    if gates.require_policy_not_worse:
        results.append(_policy_not_worse(metrics))
    if gates.require_policy_profitable:
        results.append(_policy_profitable(metrics))
    if gates.require_beats_champion and has_champion:
        results.append(_above_zero(metrics, PNL_VS_CHAMPION_CI_LOW, "beats_champion_pnl"))
    return results


def _policy_not_worse(metrics: Mapping[str, float]) -> GateResult:
    gate = "policy_not_worse_than_baseline"
    trades = _value(metrics, POLICY_TRADES)
    if trades == 0:
        return GateResult(
            gate, True, f"{POLICY_TRADES}=0: the model calls no direction, so it makes no trade"
        )
    high = _value(metrics, POLICY_VS_BASELINE_CI_HIGH)
    net = _value(metrics, POLICY_NET)
    return GateResult(
        gate,
        high >= 0,  # NaN (missing) fails
        f"{POLICY_NET}={net:.2f} bps/trade; {POLICY_VS_BASELINE_CI_HIGH}={high:.2f} "
        "(model − baseline CI must reach 0)",
    )


def _policy_profitable(metrics: Mapping[str, float]) -> GateResult:
    low = _value(metrics, POLICY_NET_CI_LOW)
    net = _value(metrics, POLICY_NET)
    trades = _value(metrics, POLICY_TRADES)
    return GateResult(
        "policy_profitable",
        low > 0 and trades > 0,
        f"{POLICY_NET}={net:.2f} bps/trade over {trades:.0f} trades; "
        f"{POLICY_NET_CI_LOW}={low:.2f} (must be > 0)",
    )


def flatten_report(report: Mapping[str, Any]) -> dict[str, float]:
    """A backtest report (``BacktestReport.to_dict()``) as flat, finite MLflow metrics:
    ``model.<m>``, ``baseline.<m>``, ``random.<m>``, each scorer's own CIs
    ``<scorer>.<m>.{ci_low,ci_high}``, ``delta.<m>.{estimate,ci_low,ci_high}`` and
    ``vs_random.<m>.{estimate,ci_low,ci_high}``."""
    flat: dict[str, float] = {}
    for scorer, values in report.get("metrics", {}).items():
        for name, value in values.items():
            flat[f"{scorer}.{name}"] = float(value)
    for scorer, values in report.get("intervals", {}).items():
        for name, bounds in values.items():
            for part in ("ci_low", "ci_high"):
                flat[f"{scorer}.{name}.{part}"] = float(bounds[part])
    for prefix, table in (("delta", "deltas"), ("vs_random", "vs_random")):
        for name, delta in report.get(table, {}).items():
            for part in ("estimate", "ci_low", "ci_high"):
                flat[f"{prefix}.{name}.{part}"] = float(delta[part])
    for key in ("base_rate", "n_rows", "n_ticks"):
        if key in report:
            flat[key] = float(report[key])
    return {k: v for k, v in flat.items() if math.isfinite(v)}


def _value(metrics: Mapping[str, float], key: str) -> float:
    value = metrics.get(key)
    return math.nan if value is None else float(value)


def _at_most(metrics: Mapping[str, float], key: str, bound: float, gate: str) -> GateResult:
    value = _value(metrics, key)
    passed = value <= bound  # NaN (missing) fails
    return GateResult(gate, passed, f"{key}={value:.4f} (must be <= {bound})")


def _above_zero(metrics: Mapping[str, float], key: str, gate: str) -> GateResult:
    value = _value(metrics, key)
    return GateResult(gate, value > 0, f"{key}={value:.4f} (bootstrap CI low must be > 0)")


# -- the gate record a promotion leaves on a model version ----------------------------------
# ``ModelRegistry.promote`` writes all three tags, ``force_promote`` writes PROMOTED_BY_TAG
# (``force``). The MLflow UI can move the ``champion`` alias without either, so the live
# runner and the Dagster monitoring check read them back through ``champion_gate_status``.
GATES_TAG = "csx.gates"
"""JSON ``{gate: {"passed": bool, "detail": str}}``: every gate's verdict at promotion."""
GATES_PASSED_TAG = "csx.gates_passed"
"""``true`` / ``false``: whether every gate in ``GATES_TAG`` passed."""
PROMOTED_BY_TAG = "csx.promoted_by"
"""``gates`` (``promote``) or ``force`` (``force_promote``: the operator override)."""


@dataclass(frozen=True)
class GateRecordStatus:
    """Whether a champion version may be served as gated.

    ``ok``: it has a passing gate record, or it was force-promoted (``override``: an operator
    decision the registry recorded, reported as such). ``reason`` says why in either case."""

    version: str
    ok: bool
    override: bool
    reason: str


def champion_gate_status(version: str, tags: Mapping[str, str]) -> GateRecordStatus:
    """The verdict on the gate record in ``tags`` (a model version's tags) of ``version``.

    A passing record wins; otherwise a recorded ``force`` promotion is an override; otherwise
    the record is missing, unreadable or failing and the alias was moved around the gates."""
    name = f"champion v{version}"
    raw = tags.get(GATES_TAG)
    failed: list[str] | None = None  # None: no readable record
    problem = ""
    if raw is not None:
        try:
            verdict = json.loads(raw)
            failed = sorted(g for g, v in verdict.items() if not bool(v["passed"]))
            if not verdict:
                failed, problem = None, "an empty gate record"
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            problem = f"an unreadable gate record ({type(exc).__name__})"
    elif GATES_PASSED_TAG in tags:
        failed = [] if tags[GATES_PASSED_TAG].strip().lower() == "true" else ["(unnamed)"]
    if failed == []:
        return GateRecordStatus(version, True, False, f"{name} passed its promotion gates")
    if tags.get(PROMOTED_BY_TAG, "").strip().lower() == "force":
        return GateRecordStatus(
            version,
            True,
            True,
            f"{name} was force-promoted (operator override, gates not passed)",
        )
    if failed:
        reason = f"{name} has no passing gate record (failed: {', '.join(failed)})"
    else:
        reason = f"{name} has no passing gate record ({problem or 'no gate record'})"
    return GateRecordStatus(version, False, False, reason)
