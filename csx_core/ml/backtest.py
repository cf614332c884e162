"""Test-fold evaluation: model vs baseline side by side, with paired bootstrap CIs.

Metrics per scorer: ROC-AUC, PR-AUC, Brier, ECE (equal-mass bins), top-K precision per tick
(mean over ticks of the in-play rate among the K best-scored symbols), lift (that precision
over the base rate), and top-K net PnL: at decision ticks spaced one horizon apart (so trades
do not overlap), go the predicted direction in the K best symbols, hold for the horizon and
exit at mid; PnL = direction × forward mid return − the cost model's round trip (bps per
trade, averaged over the K).

The bootstrap resamples contiguous time blocks (seeded) and recomputes every metric for both
scorers on the same resample, so model − baseline CIs are paired.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from csx_core.ml import metrics as m

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

METRICS = ("roc_auc", "pr_auc", "brier", "ece", "precision_at_k", "lift_at_k", "net_pnl_at_k")
LOWER_IS_BETTER = frozenset({"brier", "ece"})


@dataclass(frozen=True, kw_only=True)
class BacktestConfig:
    k: int = 5
    k_curve: int = 20
    n_bins: int = 10
    n_boot: int = 200
    n_blocks: int = 40
    seed: int = 0
    ci: float = 0.95


@dataclass(frozen=True)
class EvalInputs:
    """Test-fold rows: tick time (ns), label, forward mid return and round-trip cost (bps)."""

    ts: IntArray
    y: BoolArray
    fwd_ret_bps: FloatArray
    cost_bps: FloatArray
    horizon_ns: int


@dataclass(frozen=True)
class Prediction:
    p: FloatArray
    direction: npt.NDArray[np.int8]


@dataclass
class BacktestReport:
    """``metrics[name][metric]``; ``deltas[metric]`` = model − baseline with its CI;
    ``curves`` = data behind the plots."""

    n_rows: int
    n_ticks: int
    base_rate: float
    config: dict[str, Any]
    metrics: dict[str, dict[str, float]]
    deltas: dict[str, dict[str, float | bool]]
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def beats_baseline(self, *metric_names: str) -> bool:
        """True when every named metric's CI for model − baseline excludes 0 on the right
        side (above 0, or below 0 for lower-is-better metrics)."""
        names = metric_names or ("roc_auc", "precision_at_k")
        return all(bool(self.deltas[n]["better"]) for n in names)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        names = list(self.metrics)
        lines = [
            "# Backtest report (test fold)",
            "",
            f"rows {self.n_rows}, ticks {self.n_ticks}, base rate {self.base_rate:.4f}, "
            f"K = {self.config['k']}, bootstrap {self.config['n_boot']} × "
            f"{self.config['n_blocks']} time blocks (seed {self.config['seed']})",
            "",
            "| metric | " + " | ".join(names) + " | model − baseline | 95% CI | better |",
            "| --- | " + " | ".join("---" for _ in names) + " | --- | --- | --- |",
        ]
        for metric in METRICS:
            d = self.deltas[metric]
            vals = " | ".join(f"{self.metrics[n][metric]:.4f}" for n in names)
            lines.append(
                f"| {metric} | {vals} | {d['estimate']:+.4f} | "
                f"[{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] | {'yes' if d['better'] else 'no'} |"
            )
        return "\n".join(lines) + "\n"


class _Prepared:
    """Tick ids, blocks and per-tick series shared by every resample."""

    def __init__(self, data: EvalInputs, config: BacktestConfig) -> None:
        self.data = data
        self.config = config
        uniq, self.tick = np.unique(data.ts, return_inverse=True)
        self.n_ticks = len(uniq)
        n_blocks = max(1, min(config.n_blocks, self.n_ticks))
        self.block_of_tick = (np.arange(self.n_ticks) * n_blocks) // self.n_ticks
        self.n_blocks = n_blocks
        grid = (uniq - uniq[0]) % data.horizon_ns == 0
        self.decision_tick = grid

    def per_tick(self, pred: Prediction, k: int) -> tuple[FloatArray, FloatArray, IntArray]:
        """(precision per tick, PnL per decision tick, the decision ticks' ids)."""
        top = m.top_k_per_group(self.tick, pred.p, k)
        prec = m.per_group_mean(self.tick, self.data.y.astype(np.float64), top)
        pnl_row = pred.direction * self.data.fwd_ret_bps - self.data.cost_bps
        trade = top & self.decision_tick[self.tick] & (pred.direction != 0)
        pnl = m.per_group_mean(self.tick, pnl_row, trade)
        return prec, pnl, np.unique(self.tick[trade])

    def scalar_metrics(
        self,
        ss: m.SortedScores,
        row_w: FloatArray,
        tick_w: FloatArray,
        prec: FloatArray,
        pnl: FloatArray,
        pnl_ticks: IntArray,
    ) -> dict[str, float]:
        """Every metric with rows weighted by ``row_w`` and ticks by ``tick_w`` (a
        bootstrap replicate is a weighting: how often each block was drawn)."""
        ws = ss.weights(row_w)
        base = float(np.sum(ws * ss.y) / ws.sum()) if ws.sum() else float("nan")
        precision = float(np.average(prec, weights=tick_w)) if tick_w.sum() else float("nan")
        w_pnl = tick_w[pnl_ticks]
        return {
            "roc_auc": ss.roc_auc(ws),
            "pr_auc": ss.average_precision(ws),
            "brier": ss.brier(ws),
            "ece": ss.ece(ws, self.config.n_bins),
            "precision_at_k": precision,
            "lift_at_k": precision / base if base > 0 else float("nan"),
            "net_pnl_at_k": float(np.average(pnl, weights=w_pnl)) if w_pnl.sum() else 0.0,
        }


def evaluate(
    data: EvalInputs, model: Prediction, baseline: Prediction, config: BacktestConfig
) -> BacktestReport:
    """Side-by-side metrics, paired block-bootstrap CIs, and the curves for the plots."""
    prep = _Prepared(data, config)
    preds = {"model": model, "baseline": baseline}
    series = {n: prep.per_tick(p, config.k) for n, p in preds.items()}
    sorted_scores = {n: m.SortedScores(data.y, p.p) for n, p in preds.items()}
    row_ones = np.ones(len(data.ts))
    tick_ones = np.ones(prep.n_ticks)
    point = {
        n: prep.scalar_metrics(sorted_scores[n], row_ones, tick_ones, *series[n]) for n in preds
    }
    rng = np.random.default_rng(config.seed)
    samples: dict[str, list[float]] = {metric: [] for metric in METRICS}
    for _ in range(config.n_boot):
        blocks = rng.integers(0, prep.n_blocks, size=prep.n_blocks)
        counts = np.bincount(blocks, minlength=prep.n_blocks).astype(np.float64)
        tick_w = counts[prep.block_of_tick]
        row_w = tick_w[prep.tick]
        rep = {n: prep.scalar_metrics(sorted_scores[n], row_w, tick_w, *series[n]) for n in preds}
        for metric in METRICS:
            samples[metric].append(rep["model"][metric] - rep["baseline"][metric])
    alpha = (1.0 - config.ci) / 2.0
    deltas: dict[str, dict[str, float | bool]] = {}
    for metric in METRICS:
        arr = np.asarray(samples[metric])
        arr = arr[np.isfinite(arr)]
        lo, hi = np.quantile(arr, [alpha, 1 - alpha]) if len(arr) else (np.nan, np.nan)
        better = hi < 0 if metric in LOWER_IS_BETTER else lo > 0
        deltas[metric] = {
            "estimate": point["model"][metric] - point["baseline"][metric],
            "ci_low": float(lo),
            "ci_high": float(hi),
            "better": bool(better),
        }
    return BacktestReport(
        n_rows=len(data.ts),
        n_ticks=prep.n_ticks,
        base_rate=float(data.y.mean()),
        config=asdict(config),
        metrics=point,
        deltas=deltas,
        curves=_curves(prep, preds, config),
    )


def _curves(
    prep: _Prepared, preds: dict[str, Prediction], config: BacktestConfig
) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for name, pred in preds.items():
        mean_p, freq, counts = m.reliability_bins(prep.data.y, pred.p, config.n_bins)
        precision = [float(prep.per_tick(pred, k)[0].mean()) for k in range(1, config.k_curve + 1)]
        _, pnl, _ = prep.per_tick(pred, config.k)
        out[name] = {
            "reliability_p": mean_p.tolist(),
            "reliability_freq": freq.tolist(),
            "reliability_count": counts.astype(float).tolist(),
            "precision_at_k": precision,
            "cum_net_pnl_bps": np.cumsum(pnl).tolist(),
        }
    return out
