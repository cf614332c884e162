"""Rolling live metrics over the most recent resolved predictions of one role.

Resolved predictions are kept per resolution tick (one chunk per tick) for ``window_s``
seconds of tick time and at most ``max_rows`` rows (oldest trimmed first, counted), so
memory is bounded whatever the symbol count. Metrics are computed on demand from the
window with the offline functions (``csx_core.ml.metrics.brier`` / ``ece``, equal-mass
bins), so a live number and a backtest number over the same rows are the same number;
the result is cached until the window changes. Computing costs one sort of the window
(≈ 0.4 s for 1.8 M rows, a full hour of 500 symbols): take a :meth:`RollingOutcomes.snapshot`
(cheap) on the tick loop and summarise it at scrape cadence, off the loop if need be.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from csx_core.ml import metrics as mx
from csx_core.ml.frame import NS_PER_S

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

GAUGE_NAMES = {
    "brier": "csx_live_brier",
    "ece": "csx_live_ece",
    "topk_hit_rate": "csx_live_topk_hit_rate",
    "base_rate": "csx_live_base_rate",
    "mean_p": "csx_live_mean_p",
    "direction_hit_rate": "csx_live_direction_hit_rate",
    "count": "csx_live_window_resolved",
    "resolved_total": "csx_live_resolved_total",
    "dropped_total": "csx_live_dropped_total",
    "pending": "csx_live_pending",
}
"""LiveMetrics field -> Prometheus metric name (each labelled by ``role``)."""
COUNTER_NAMES = frozenset({"csx_live_resolved_total", "csx_live_dropped_total"})
"""The monotonic ones (expose as counters); every other name is a gauge."""


@dataclass(frozen=True, kw_only=True)
class LiveMetrics:
    """One role's resolved-prediction metrics over the rolling window.

    ``count`` rows resolved within the last ``window_s`` seconds of tick time;
    ``brier``/``ece`` (equal-mass, ``ece_bins``) over them; ``base_rate`` = share in play;
    ``mean_p`` = mean predicted probability (``mean_p − base_rate`` is the calibration-in-the-
    large drift); ``topk_hit_rate`` = share in play among the ``topk_count`` rows that were in
    the top-K at their tick; ``direction_hit_rate`` = share of in-play rows whose predicted
    direction matched the realised one. Ratios are NaN when their denominator is empty.
    Totals are cumulative since start: ``dropped_total`` = ``dropped_window`` (the label
    window hit a missing tick, a gap or a missing mid) + ``dropped_at_t`` (no usable book or
    no price row at prediction time, or a symbol over the resolver's cap);
    ``trimmed_total`` rows left the window early because of its row cap."""

    role: str
    model_id: str
    ts: int
    window_s: int
    count: int
    brier: float
    ece: float
    base_rate: float
    mean_p: float
    topk_count: int
    topk_hit_rate: float
    direction_hit_rate: float
    resolved_total: int
    dropped_window: int
    dropped_at_t: int
    pending: int
    trimmed_total: int

    @property
    def dropped_total(self) -> int:
        return self.dropped_window + self.dropped_at_t

    def to_dict(self) -> dict[str, str | int | float]:
        out: dict[str, str | int | float] = asdict(self)
        out["dropped_total"] = self.dropped_total
        return out

    def to_gauges(self) -> dict[str, float]:
        """``{prometheus metric name: value}`` (see :data:`GAUGE_NAMES`)."""
        values = self.to_dict()
        return {name: float(values[field]) for field, name in GAUGE_NAMES.items()}


@dataclass(frozen=True)
class _Chunk:
    ts: int
    p: FloatArray
    y: BoolArray
    top_k: BoolArray
    direction_ok: BoolArray


class RollingOutcomes:
    """The window of one role: append one chunk per resolution tick, evict by tick time."""

    def __init__(self, *, window_s: int, max_rows: int, ece_bins: int = 10) -> None:
        if window_s <= 0 or max_rows <= 0 or ece_bins <= 0:
            raise ValueError("window_s, max_rows and ece_bins must be > 0")
        self.window_s = window_s
        self.max_rows = max_rows
        self.ece_bins = ece_bins
        self._chunks: deque[_Chunk] = deque()
        self._rows = 0
        self.trimmed_total = 0
        self._version = 0
        self._cache: tuple[int, dict[str, float | int]] | None = None

    def __len__(self) -> int:
        return self._rows

    def append(
        self, ts: int, p: FloatArray, y: BoolArray, top_k: BoolArray, direction_ok: BoolArray
    ) -> None:
        if len(p):
            self._chunks.append(_Chunk(ts, p, y, top_k, direction_ok))
            self._rows += len(p)
            self._version += 1
        while self._rows > self.max_rows:
            first = self._chunks[0]
            extra = self._rows - self.max_rows
            if extra >= len(first.p):
                self._chunks.popleft()
                self._rows -= len(first.p)
                self.trimmed_total += len(first.p)
            else:
                self._chunks[0] = _Chunk(
                    first.ts,
                    first.p[extra:],
                    first.y[extra:],
                    first.top_k[extra:],
                    first.direction_ok[extra:],
                )
                self._rows -= extra
                self.trimmed_total += extra

    def evict(self, now_ts: int) -> None:
        """Drop chunks resolved at or before ``now_ts − window_s`` (ns)."""
        cutoff = now_ts - self.window_s * NS_PER_S
        while self._chunks and self._chunks[0].ts <= cutoff:
            self._rows -= len(self._chunks.popleft().p)
            self._version += 1

    def snapshot(self) -> WindowSnapshot:
        """The window as it is now, cheap (O(ticks in the window)); chunk arrays are never
        modified after they are appended, so the snapshot may be summarised in another
        thread while ticks go on."""
        return WindowSnapshot(tuple(self._chunks), self._version, self.ece_bins, self)

    def arrays(self) -> tuple[FloatArray, BoolArray, BoolArray, BoolArray]:
        """(p, y, top_k, direction_ok) of every row in the window, oldest first."""
        return self.snapshot().arrays()

    def summary(self) -> dict[str, float | int]:
        """The window's statistics (cached until the window changes)."""
        return self.snapshot().summary()


@dataclass(frozen=True)
class WindowSnapshot:
    chunks: tuple[_Chunk, ...]
    version: int
    ece_bins: int
    owner: RollingOutcomes

    def arrays(self) -> tuple[FloatArray, BoolArray, BoolArray, BoolArray]:
        if not self.chunks:
            return np.empty(0), np.empty(0, bool), np.empty(0, bool), np.empty(0, bool)
        return (
            np.concatenate([c.p for c in self.chunks]),
            np.concatenate([c.y for c in self.chunks]),
            np.concatenate([c.top_k for c in self.chunks]),
            np.concatenate([c.direction_ok for c in self.chunks]),
        )

    def summary(self) -> dict[str, float | int]:
        """Statistics of the snapshot; the owner caches the latest one (a tuple swap)."""
        cached = self.owner._cache
        if cached is not None and cached[0] == self.version:
            return cached[1]
        p, y, top, d_ok = self.arrays()
        nan = math.nan
        out: dict[str, float | int] = {
            "count": len(p),
            "brier": mx.brier(y, p) if len(p) else nan,
            "ece": mx.ece(y, p, self.ece_bins) if len(p) else nan,
            "base_rate": float(y.mean()) if len(p) else nan,
            "mean_p": float(p.mean()) if len(p) else nan,
            "topk_count": int(top.sum()),
            "topk_hit_rate": float(y[top].mean()) if top.any() else nan,
            "direction_hit_rate": float(d_ok[y].mean()) if y.any() else nan,
        }
        self.owner._cache = (self.version, out)
        return out
