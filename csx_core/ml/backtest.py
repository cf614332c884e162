"""Test-fold evaluation: model vs baseline vs seeded random picks, with paired bootstrap CIs.

Ranking and calibration, per scorer: ROC-AUC, PR-AUC, Brier, ECE (equal-mass bins), top-K
precision per tick (mean over ticks of the in-play rate among the K best-scored symbols) and
lift (that precision over the base rate).

Trading, the headline: at decision ticks spaced one horizon apart (so trades do not
overlap), take the K best-scored symbols and trade each in its called direction with the
label's own policy (:mod:`csx_core.ml.policy`: exit at the cost-clearing barrier, the stop if
any, or t+H). A row whose direction is not called (the direction model abstains) is not a
trade. Reported: net bps per trade, trade count, hit rate (net > 0) overall and per
direction; "hold to H" (exit at the mid at t+H) is the second, labelled row. The random
reference picks K symbols and a direction per decision tick with a seeded generator.

Direction: accuracy of the called direction against the label's better side over the
in-play rows where a direction is called, and the share of in-play rows called (coverage).

The bootstrap resamples contiguous time blocks (seeded) and recomputes every metric for all
scorers on the same resample, so differences are paired; each scorer's own trading metrics
get a CI too (the PROD gate needs the model's net bps CI above zero). The report also holds
each scorer's backtest net edge table (:mod:`csx_core.ml.edge`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from csx_core.ml import metrics as m
from csx_core.ml.edge import EdgeTableConfig, fit_edge_table
from csx_core.ml.frame import column
from csx_core.ml.labels import LabelConfig
from csx_core.ml.policy import called_outcome, hold_outcome
from csx_core.ml.scorer import Scores

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]

RANKING_METRICS = ("roc_auc", "pr_auc", "brier", "ece", "precision_at_k", "lift_at_k")
TRADING_METRICS = (
    "policy_net_bps",
    "policy_trades",
    "policy_hit_rate",
    "policy_hit_rate_up",
    "policy_hit_rate_down",
    "policy_trades_up",
    "policy_trades_down",
    "hold_net_bps",
    "direction_accuracy",
    "direction_coverage",
)
METRICS = RANKING_METRICS + TRADING_METRICS
# Differences with a CI (counts have no better side).
DELTA_METRICS = (
    *RANKING_METRICS,
    "policy_net_bps",
    "policy_hit_rate",
    "hold_net_bps",
    "direction_accuracy",
)
# Each scorer's own CI.
INTERVAL_METRICS = ("policy_net_bps", "policy_hit_rate", "hold_net_bps", "direction_accuracy")
RANDOM_DELTAS = ("policy_net_bps", "hold_net_bps")
LOWER_IS_BETTER = frozenset({"brier", "ece"})
SCORERS = ("model", "baseline", "random")


@dataclass(frozen=True, kw_only=True)
class BacktestConfig:
    k: int = 5
    k_curve: int = 20
    n_bins: int = 10
    n_boot: int = 200
    n_blocks: int = 40
    seed: int = 0
    ci: float = 0.95
    edge: EdgeTableConfig = field(default_factory=EdgeTableConfig)


@dataclass(frozen=True)
class EvalInputs:
    """Test-fold rows: tick time (ns), label, forward mid return, round-trip cost (bps), the
    label policy's net bps long and short, and the label's better side (+1/−1)."""

    ts: IntArray
    y: BoolArray
    fwd_ret_bps: FloatArray
    cost_bps: FloatArray
    horizon_ns: int
    policy_long_bps: FloatArray
    policy_short_bps: FloatArray
    label_direction: Int8Array
    policy: dict[str, Any] = field(default_factory=dict)


def table_eval_inputs(table: pa.Table, labels: LabelConfig) -> EvalInputs:
    """A labelled table (``csx_core.ml.labels``) as the backtest reads it."""
    return EvalInputs(
        ts=np.asarray(table.column("ts").to_numpy(), dtype=np.int64),
        y=np.asarray(table.column("in_play").to_numpy(zero_copy_only=False), dtype=bool),
        fwd_ret_bps=column(table, "fwd_ret_bps"),
        cost_bps=column(table, "cost_bps"),
        horizon_ns=labels.horizon_ns,
        policy_long_bps=column(table, "policy_long_bps"),
        policy_short_bps=column(table, "policy_short_bps"),
        label_direction=np.asarray(table.column("direction").to_numpy(), dtype=np.int8),
        policy={
            "threshold_bps": labels.threshold_bps,
            "stop_bps": labels.stop_bps,
            "horizon_s": labels.horizon_s,
        },
    )


@dataclass(frozen=True)
class Prediction:
    """``direction`` +1/−1, or 0 where no direction is called; ``confidence`` is the
    calibrated probability of the called direction (None: the scorer has none)."""

    p: FloatArray
    direction: Int8Array
    confidence: FloatArray | None = None

    @classmethod
    def of(cls, scores: Scores) -> Prediction:
        """A scorer's output as the backtest reads it."""
        return cls(scores.p, scores.direction, scores.confidence)


@dataclass
class BacktestReport:
    """``metrics[scorer][metric]``; ``deltas[metric]`` = model − baseline with its CI;
    ``vs_random[metric]`` = model − random; ``intervals[scorer][metric]`` = the scorer's own
    CI; ``edge_tables[scorer]`` = its backtest net edge table; ``curves`` = plot data."""

    n_rows: int
    n_ticks: int
    base_rate: float
    config: dict[str, Any]
    metrics: dict[str, dict[str, float]]
    deltas: dict[str, dict[str, float | bool]]
    vs_random: dict[str, dict[str, float | bool]] = field(default_factory=dict)
    intervals: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    edge_tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    data: str = "test folds"
    """What the rows are: training's test folds, or data the model never saw."""

    def beats_baseline(self, *metric_names: str) -> bool:
        """True when every named metric's CI for model − baseline excludes 0 on the right
        side (above 0, or below 0 for lower-is-better metrics)."""
        names = metric_names or ("roc_auc", "precision_at_k")
        return all(bool(self.deltas[n]["better"]) for n in names)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        cfg = self.config
        lines = [
            f"# Backtest report ({self.data})",
            "",
            f"rows {self.n_rows}, ticks {self.n_ticks}, base rate {self.base_rate:.4f}, "
            f"K = {cfg['k']}, bootstrap {cfg['n_boot']} × {cfg['n_blocks']} time blocks "
            f"(seed {cfg['seed']}), CI {cfg['ci']:.0%}",
            "",
            "## Trading the label's policy (top-K at decision ticks one horizon apart)",
            "",
            _policy_line(self.policy),
            "",
            "| | model | baseline | random |",
            "| --- | --- | --- | --- |",
        ]
        for metric, label in (
            ("policy_net_bps", "net bps per trade (label policy)"),
            ("hold_net_bps", "net bps per trade (hold to H)"),
            ("policy_trades", "trades"),
            ("policy_hit_rate", "hit rate (net > 0)"),
            ("policy_hit_rate_up", "hit rate, UP calls"),
            ("policy_hit_rate_down", "hit rate, DOWN calls"),
            ("direction_accuracy", "direction right (in-play rows called)"),
            ("direction_coverage", "in-play rows with a direction called"),
        ):
            cells = [self._cell(s, metric) for s in SCORERS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "| difference | estimate | CI | significant |",
            "| --- | --- | --- | --- |",
        ]
        for name, table in (("model − baseline", self.deltas), ("model − random", self.vs_random)):
            for metric in RANDOM_DELTAS:
                if metric in table:
                    d = table[metric]
                    lines.append(
                        f"| {name}, {metric} | {_fmt(d['estimate'])} | "
                        f"[{_fmt(d['ci_low'])}, {_fmt(d['ci_high'])}] | "
                        f"{'yes' if d['better'] else 'no'} |"
                    )
        lines += [
            "",
            "## Ranking and calibration",
            "",
            "| metric | model | baseline | model − baseline | CI | better |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for metric in RANKING_METRICS:
            d = self.deltas[metric]
            lines.append(
                f"| {metric} | {_fmt(self.metrics['model'][metric])} | "
                f"{_fmt(self.metrics['baseline'][metric])} | {_fmt(d['estimate'])} | "
                f"[{_fmt(d['ci_low'])}, {_fmt(d['ci_high'])}] | "
                f"{'yes' if d['better'] else 'no'} |"
            )
        return "\n".join(lines) + "\n"

    def _cell(self, scorer: str, metric: str) -> str:
        value = self.metrics.get(scorer, {}).get(metric, math.nan)
        if metric.startswith("policy_trades"):
            return str(int(value)) if math.isfinite(value) else "—"
        text = _fmt(value)
        ci = self.intervals.get(scorer, {}).get(metric)
        if ci is not None and math.isfinite(value):
            text += f" [{_fmt(ci['ci_low'])}, {_fmt(ci['ci_high'])}]"
        return text


def _fmt(value: Any) -> str:
    v = float(value)
    return f"{v:+.4f}" if math.isfinite(v) else "—"


def _policy_line(policy: dict[str, Any]) -> str:
    if not policy:
        return "Policy: the label's barrier (cost + threshold), else exit at t+H."
    stop = policy.get("stop_bps")
    return (
        f"Policy: enter at t in the called direction at the cost model's entry price; take "
        f"profit at cost + {policy.get('threshold_bps')} bps, "
        + (f"stop at −{stop} bps, " if stop is not None else "no stop, ")
        + f"else exit at t + {policy.get('horizon_s')} s. Net of fees, spread and impact."
    )


class _Trades:
    """One scorer's trades: top-K rows of each decision tick with a called direction."""

    def __init__(self, prep: _Prepared, pred: Prediction, top: BoolArray) -> None:
        data = prep.data
        trade = top & prep.decision_tick[prep.tick] & (pred.direction != 0)
        self.tick = prep.tick[trade]
        d = pred.direction[trade]
        self.policy = called_outcome(d, data.policy_long_bps[trade], data.policy_short_bps[trade])
        self.hold = hold_outcome(d, data.fwd_ret_bps[trade], data.cost_bps[trade])
        self.hit = (self.policy > 0).astype(np.float64)
        self.up = d > 0
        # Direction against the label, over every in-play row where one is called.
        called_inplay = data.y & (pred.direction != 0)
        self.dir_tick = prep.tick[called_inplay]
        self.dir_right = (
            pred.direction[called_inplay] == data.label_direction[called_inplay]
        ).astype(np.float64)
        self.inplay_tick = prep.tick[data.y]
        self.inplay_called = (pred.direction[data.y] != 0).astype(np.float64)

    def metrics(self, tick_w: FloatArray) -> dict[str, float]:
        w = tick_w[self.tick]
        wd = tick_w[self.dir_tick]
        wi = tick_w[self.inplay_tick]
        return {
            "policy_net_bps": _wmean(self.policy, w),
            "policy_trades": float(w.sum()),
            "policy_hit_rate": _wmean(self.hit, w),
            "policy_hit_rate_up": _wmean(self.hit[self.up], w[self.up]),
            "policy_hit_rate_down": _wmean(self.hit[~self.up], w[~self.up]),
            "policy_trades_up": float(w[self.up].sum()),
            "policy_trades_down": float(w[~self.up].sum()),
            "hold_net_bps": _wmean(self.hold, w),
            "direction_accuracy": _wmean(self.dir_right, wd),
            "direction_coverage": _wmean(self.inplay_called, wi),
        }

    def per_decision_tick(self, n_ticks: int) -> FloatArray:
        """Mean label-policy net bps per decision tick with a trade (the cumulative plot)."""
        sums = np.bincount(self.tick, weights=self.policy, minlength=n_ticks)
        counts = np.bincount(self.tick, minlength=n_ticks)
        out: FloatArray = sums[counts > 0] / counts[counts > 0]
        return out


def _wmean(values: FloatArray, w: FloatArray) -> float:
    total = float(w.sum())
    return float(np.dot(values, w) / total) if total > 0 else float("nan")


class _Prepared:
    """Tick ids, blocks and decision ticks shared by every resample."""

    def __init__(self, data: EvalInputs, config: BacktestConfig) -> None:
        self.data = data
        self.config = config
        uniq, self.tick = np.unique(data.ts, return_inverse=True)
        self.n_ticks = len(uniq)
        n_blocks = max(1, min(config.n_blocks, self.n_ticks))
        self.block_of_tick = (np.arange(self.n_ticks) * n_blocks) // max(1, self.n_ticks)
        self.n_blocks = n_blocks
        self.decision_tick = (uniq - uniq[0]) % data.horizon_ns == 0 if len(uniq) else uniq

    def precision(self, rank: IntArray, k: int) -> FloatArray:
        """Per tick, the hit rate of its top ``k`` (``rank``: ``m.rank_in_group`` of the
        scores over ticks)."""
        return m.per_group_mean(self.tick, self.data.y.astype(np.float64), rank < k)

    def ranking_metrics(
        self, ss: m.SortedScores, row_w: FloatArray, tick_w: FloatArray, prec: FloatArray
    ) -> dict[str, float]:
        """Ranking metrics with rows weighted by ``row_w`` and ticks by ``tick_w`` (a
        bootstrap replicate is a weighting: how often each block was drawn)."""
        ws = ss.weights(row_w)
        levels = ss.level_sums(ws)
        base = float(np.sum(ws.wy) / ws.total) if ws.total else float("nan")
        precision = float(np.average(prec, weights=tick_w)) if tick_w.sum() else float("nan")
        return {
            "roc_auc": ss.roc_auc(ws, levels),
            "pr_auc": ss.average_precision(ws, levels),
            "brier": ss.brier(ws),
            "ece": ss.ece(ws, self.config.n_bins),
            "precision_at_k": precision,
            "lift_at_k": precision / base if base > 0 else float("nan"),
        }


def random_picks(data: EvalInputs, seed: int) -> Prediction:
    """The seeded random reference: uniform scores (so top-K is K random symbols per tick)
    and a random direction per row."""
    rng = np.random.default_rng(seed)
    p = rng.random(len(data.ts))
    direction = np.where(rng.random(len(data.ts)) < 0.5, 1, -1).astype(np.int8)
    return Prediction(p, direction)


def evaluate(
    data: EvalInputs,
    model: Prediction,
    baseline: Prediction,
    config: BacktestConfig,
    *,
    data_label: str = "test folds",
) -> BacktestReport:
    """Metrics for model, baseline and the random reference, paired block-bootstrap CIs,
    the backtest net edge tables and the curves for the plots."""
    prep = _Prepared(data, config)
    preds = {"model": model, "baseline": baseline, "random": random_picks(data, config.seed)}
    ranked = ("model", "baseline")
    ranks = {n: m.rank_in_group(prep.tick, p.p) for n, p in preds.items()}
    trades = {n: _Trades(prep, p, ranks[n] < config.k) for n, p in preds.items()}
    prec = {n: prep.precision(ranks[n], config.k) for n in preds}
    sorted_scores = {n: m.SortedScores(data.y, preds[n].p) for n in ranked}
    row_ones = np.ones(len(data.ts))
    tick_ones = np.ones(prep.n_ticks)

    def replicate(row_w: FloatArray, tick_w: FloatArray) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for n in SCORERS:
            if n in sorted_scores:
                ranking = prep.ranking_metrics(sorted_scores[n], row_w, tick_w, prec[n])
            else:
                ranking = dict.fromkeys(RANKING_METRICS, float("nan"))
                ranking["precision_at_k"] = float(np.average(prec[n], weights=tick_w))
            out[n] = {**ranking, **trades[n].metrics(tick_w)}
        return out

    point = replicate(row_ones, tick_ones)
    rng = np.random.default_rng(config.seed)
    reps: list[dict[str, dict[str, float]]] = []
    for _ in range(config.n_boot):
        blocks = rng.integers(0, prep.n_blocks, size=prep.n_blocks)
        counts = np.bincount(blocks, minlength=prep.n_blocks).astype(np.float64)
        tick_w = counts[prep.block_of_tick]
        reps.append(replicate(tick_w[prep.tick], tick_w))
    alpha = (1.0 - config.ci) / 2.0

    def interval(values: list[float]) -> tuple[float, float]:
        arr = np.asarray(values)
        arr = arr[np.isfinite(arr)]
        if not len(arr):
            return float("nan"), float("nan")
        lo, hi = np.quantile(arr, [alpha, 1 - alpha])
        return float(lo), float(hi)

    def delta(metric: str, other: str) -> dict[str, float | bool]:
        lo, hi = interval([r["model"][metric] - r[other][metric] for r in reps])
        better = hi < 0 if metric in LOWER_IS_BETTER else lo > 0
        return {
            "estimate": point["model"][metric] - point[other][metric],
            "ci_low": lo,
            "ci_high": hi,
            "better": bool(better),
        }

    intervals: dict[str, dict[str, dict[str, float]]] = {}
    for n in SCORERS:
        intervals[n] = {}
        for metric in INTERVAL_METRICS:
            lo, hi = interval([r[n][metric] for r in reps])
            intervals[n][metric] = {"ci_low": lo, "ci_high": hi}
    return BacktestReport(
        n_rows=len(data.ts),
        n_ticks=prep.n_ticks,
        base_rate=float(data.y.mean()) if len(data.y) else float("nan"),
        config=asdict(config),
        metrics=point,
        deltas={metric: delta(metric, "baseline") for metric in DELTA_METRICS},
        vs_random={metric: delta(metric, "random") for metric in RANDOM_DELTAS},
        intervals=intervals,
        edge_tables={n: _edge_table(prep, preds[n], config) for n in ranked},
        policy=dict(data.policy),
        curves=_curves(prep, preds, trades, ranks, config),
        data=data_label,
    )


def _edge_table(prep: _Prepared, pred: Prediction, config: BacktestConfig) -> dict[str, Any]:
    data = prep.data
    outcome = called_outcome(pred.direction, data.policy_long_bps, data.policy_short_bps)
    table = fit_edge_table(
        p=pred.p,
        outcome_bps=outcome,
        conf=pred.confidence,
        row_block=prep.block_of_tick[prep.tick],
        n_blocks=prep.n_blocks,
        n_boot=config.n_boot,
        seed=config.seed,
        ci=config.ci,
        config=config.edge,
    )
    return table.to_dict()


def _curves(
    prep: _Prepared,
    preds: dict[str, Prediction],
    trades: dict[str, _Trades],
    ranks: dict[str, IntArray],
    config: BacktestConfig,
) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for name, pred in preds.items():
        curve: dict[str, list[float]] = {
            "precision_at_k": [
                float(prep.precision(ranks[name], k).mean()) for k in range(1, config.k_curve + 1)
            ],
            "cum_net_pnl_bps": np.cumsum(trades[name].per_decision_tick(prep.n_ticks)).tolist(),
        }
        if name != "random":
            mean_p, freq, counts = m.reliability_bins(prep.data.y, pred.p, config.n_bins)
            curve["reliability_p"] = mean_p.tolist()
            curve["reliability_freq"] = freq.tolist()
            curve["reliability_count"] = counts.astype(float).tolist()
        out[name] = curve
    return out
