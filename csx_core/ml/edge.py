"""The backtest net edge: what the backtest measured, per probability and confidence bucket.

The one expected-edge function of the project. The backtest prices every test row's called
direction with the label policy (:mod:`csx_core.ml.policy`), then averages that net bps per
trade within buckets of the calibrated in-play probability × the calibrated direction
confidence, with a block-bootstrap CI per cell. The table ships in the model package; the
live screener, alerts, webhooks, explanations and metrics read a row's edge from it and
nowhere else. A cell with fewer than ``min_trades`` trades, and a row with no called
direction, has no edge: callers show "unknown" (NaN here, ``None`` on the wire).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EDGE_SOURCE = "backtest net edge: label-policy net bps per trade on the test folds"


@dataclass(frozen=True, kw_only=True)
class EdgeTableConfig:
    p_bins: int = 6
    conf_bins: int = 2
    min_trades: int = 30


@dataclass(frozen=True)
class EdgeTable:
    """``mean_bps[i][j]`` for p in ``[p_edges[i], p_edges[i+1])`` and direction confidence
    in ``[conf_edges[j], conf_edges[j+1])`` (outer edges are open: values beyond them fall
    in the first or last bucket); ``None`` marks a cell without enough trades."""

    p_edges: tuple[float, ...]
    conf_edges: tuple[float, ...]
    mean_bps: tuple[tuple[float | None, ...], ...]
    ci_low: tuple[tuple[float | None, ...], ...]
    ci_high: tuple[tuple[float | None, ...], ...]
    trades: tuple[tuple[int, ...], ...]
    min_trades: int
    hit_rate: tuple[tuple[float | None, ...], ...] = ()
    """Share of the cell's trades with net > 0 (None where the cell is unknown)."""
    source: str = EDGE_SOURCE

    def _cells(self, p: FloatArray, conf: FloatArray | None) -> tuple[IntArray, IntArray]:
        pi = np.searchsorted(np.asarray(self.p_edges[1:-1]), np.asarray(p), side="right")
        if conf is None or len(self.conf_edges) <= 2:
            ci = np.zeros(len(pi), dtype=np.int64)
        else:
            c = np.nan_to_num(np.asarray(conf, dtype=np.float64), nan=0.0)
            ci = np.searchsorted(np.asarray(self.conf_edges[1:-1]), c, side="right")
        return pi.astype(np.int64), ci.astype(np.int64)

    def _grid(self, values: tuple[tuple[float | None, ...], ...]) -> FloatArray:
        return np.array([[math.nan if v is None else v for v in row] for row in values])

    def lookup(
        self, p: FloatArray, direction: npt.NDArray[np.int8], conf: FloatArray | None = None
    ) -> FloatArray:
        """Backtest net edge (bps per trade) per row; NaN where unknown (no called
        direction, or a cell with too few trades)."""
        return self._lookup(self.mean_bps, p, direction, conf)

    def lookup_hit_rate(
        self, p: FloatArray, direction: npt.NDArray[np.int8], conf: FloatArray | None = None
    ) -> FloatArray:
        """The backtest hit rate (net > 0) of each row's cell; NaN where unknown."""
        return self._lookup(self.hit_rate, p, direction, conf)

    def lookup_ci(
        self, p: FloatArray, direction: npt.NDArray[np.int8], conf: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray]:
        return (
            self._lookup(self.ci_low, p, direction, conf),
            self._lookup(self.ci_high, p, direction, conf),
        )

    def _lookup(
        self,
        values: tuple[tuple[float | None, ...], ...],
        p: FloatArray,
        direction: npt.NDArray[np.int8],
        conf: FloatArray | None,
    ) -> FloatArray:
        if len(p) == 0 or not values:
            return np.full(len(p), np.nan)
        pi, ci = self._cells(p, conf)
        out: FloatArray = self._grid(values)[pi, ci]
        return np.where(np.asarray(direction) != 0, out, np.nan)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "min_trades": self.min_trades,
            "p_edges": list(self.p_edges),
            "conf_edges": list(self.conf_edges),
            "mean_bps": [list(r) for r in self.mean_bps],
            "ci_low": [list(r) for r in self.ci_low],
            "ci_high": [list(r) for r in self.ci_high],
            "trades": [list(r) for r in self.trades],
            "hit_rate": [list(r) for r in self.hit_rate],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EdgeTable:
        def grid(key: str) -> tuple[tuple[float | None, ...], ...]:
            return tuple(tuple(None if v is None else float(v) for v in r) for r in data[key])

        table = cls(
            p_edges=tuple(float(v) for v in data["p_edges"]),
            conf_edges=tuple(float(v) for v in data["conf_edges"]),
            mean_bps=grid("mean_bps"),
            ci_low=grid("ci_low"),
            ci_high=grid("ci_high"),
            trades=tuple(tuple(int(v) for v in r) for r in data["trades"]),
            min_trades=int(data["min_trades"]),
            hit_rate=grid("hit_rate"),
            source=str(data.get("source", EDGE_SOURCE)),
        )
        shape = (len(table.p_edges) - 1, len(table.conf_edges) - 1)
        for key in ("mean_bps", "ci_low", "ci_high", "trades", "hit_rate"):
            rows = getattr(table, key)
            if len(rows) != shape[0] or any(len(r) != shape[1] for r in rows):
                raise ValueError(f"edge table {key} is not {shape[0]} × {shape[1]}")
        return table


def _edges(values: FloatArray, bins: int) -> tuple[float, ...]:
    """Equal-mass bucket edges over ``values`` (duplicates merged), outer edges 0 and 1."""
    if bins <= 1 or len(values) == 0:
        return (0.0, 1.0)
    inner = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    inner = inner[(inner > 0.0) & (inner < 1.0)]
    return (0.0, *(float(v) for v in inner), 1.0)


def fit_edge_table(
    *,
    p: FloatArray,
    outcome_bps: FloatArray,
    conf: FloatArray | None,
    row_block: IntArray,
    n_blocks: int,
    n_boot: int,
    seed: int,
    ci: float,
    config: EdgeTableConfig,
) -> EdgeTable:
    """Mean label-policy outcome per bucket over the rows with a called direction (finite
    ``outcome_bps``), with a paired block-bootstrap CI (``row_block`` = each row's time
    block)."""
    traded = np.isfinite(outcome_bps)
    p_t = np.asarray(p, dtype=np.float64)[traded]
    o_t = np.asarray(outcome_bps, dtype=np.float64)[traded]
    blocks = np.asarray(row_block, dtype=np.int64)[traded]
    n = len(o_t)
    p_bins = max(1, min(config.p_bins, n // max(1, config.min_trades * config.conf_bins)))
    p_edges = _edges(p_t, p_bins)
    conf_edges: tuple[float, ...] = (0.0, 1.0)
    conf_t = None
    if conf is not None:
        conf_t = np.asarray(conf, dtype=np.float64)[traded]
        conf_edges = _edges(conf_t, config.conf_bins)
    shell = EdgeTable(p_edges, conf_edges, (), (), (), (), config.min_trades)
    pi, ci_idx = shell._cells(p_t, conf_t)
    n_conf = len(conf_edges) - 1
    n_cells = (len(p_edges) - 1) * n_conf
    cell = pi * n_conf + ci_idx
    counts = np.bincount(cell, minlength=n_cells)
    means = np.bincount(cell, weights=o_t, minlength=n_cells) / np.maximum(counts, 1)
    hits = np.bincount(cell, weights=(o_t > 0).astype(np.float64), minlength=n_cells)
    hit_share = hits / np.maximum(counts, 1)
    rng = np.random.default_rng(seed)
    reps = np.full((n_boot, n_cells), np.nan)
    for r in range(n_boot):
        draw = np.bincount(rng.integers(0, n_blocks, size=n_blocks), minlength=n_blocks)
        w = draw[blocks].astype(np.float64)
        wsum = np.bincount(cell, weights=w, minlength=n_cells)
        osum = np.bincount(cell, weights=w * o_t, minlength=n_cells)
        with np.errstate(invalid="ignore", divide="ignore"):
            reps[r] = osum / wsum
    alpha = (1.0 - ci) / 2.0

    def shaped(values: list[float | None]) -> tuple[tuple[float | None, ...], ...]:
        return tuple(tuple(values[i * n_conf : (i + 1) * n_conf]) for i in range(n_cells // n_conf))

    mean_l: list[float | None] = []
    hit_l: list[float | None] = []
    low_l: list[float | None] = []
    high_l: list[float | None] = []
    for c in range(n_cells):
        col = reps[:, c][np.isfinite(reps[:, c])]
        known = counts[c] >= config.min_trades and len(col) > 0
        mean_l.append(float(means[c]) if known else None)
        hit_l.append(float(hit_share[c]) if known else None)
        low_l.append(float(np.quantile(col, alpha)) if known else None)
        high_l.append(float(np.quantile(col, 1 - alpha)) if known else None)
    trades = tuple(
        tuple(int(v) for v in counts[i * n_conf : (i + 1) * n_conf])
        for i in range(n_cells // n_conf)
    )
    return EdgeTable(
        p_edges=p_edges,
        conf_edges=conf_edges,
        mean_bps=shaped(mean_l),
        ci_low=shaped(low_l),
        ci_high=shaped(high_l),
        trades=trades,
        min_trades=config.min_trades,
        hit_rate=shaped(hit_l),
    )
