"""Alerts: threshold crossing, per-symbol cooldown, dedupe. Time is passed in (ns).

A symbol alerts when its p reaches ``threshold`` while *armed*. It is then disarmed until p
falls below ``threshold − rearm_gap`` (so a symbol hovering at the threshold does not alert
on every tick — the dedupe), and it cannot alert again within ``cooldown_s`` of its last
alert even if re-armed. A symbol appearing twice in one batch is counted once (its highest
p). Output order is by (−p, symbol), so the stream is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from csx_core.contracts import Direction, ReasonCode

NS_PER_S = 1_000_000_000
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class AlertConfig:
    threshold: float = 0.6
    rearm_gap: float = 0.05
    cooldown_s: float = 300.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if self.rearm_gap < 0 or self.cooldown_s < 0:
            raise ValueError("rearm_gap and cooldown_s must be >= 0")


@dataclass(frozen=True)
class Alert:
    ts: int
    symbol: str
    p_inplay: float
    direction: Direction
    reason_codes: tuple[ReasonCode, ...]


class Alerter:
    def __init__(self, config: AlertConfig) -> None:
        self.config = config
        self._last_alert: dict[str, int] = {}
        self._disarmed: set[str] = set()

    def update(
        self,
        ts: int,
        symbols: Sequence[str],
        p: FloatArray,
        *,
        directions: Mapping[str, Direction] | None = None,
        reasons: Mapping[str, tuple[ReasonCode, ...]] | None = None,
    ) -> list[Alert]:
        """Feed one tick (``ts`` in ns, non-decreasing); returns the alerts it fires."""
        cfg = self.config
        p_arr = np.asarray(p, dtype=np.float64)
        if self._disarmed:
            low = cfg.threshold - cfg.rearm_gap
            seen: dict[str, float] = {}
            for sym, v in zip(symbols, p_arr, strict=True):
                if sym in self._disarmed and np.isfinite(v):
                    seen[sym] = max(seen.get(sym, -1.0), float(v))
            self._disarmed -= {sym for sym, v in seen.items() if v < low}
        best: dict[str, float] = {}
        for i in np.flatnonzero(p_arr >= cfg.threshold):
            sym, v = symbols[int(i)], float(p_arr[i])
            if v > best.get(sym, -1.0):
                best[sym] = v
        cooldown_ns = int(cfg.cooldown_s * NS_PER_S)
        fired: list[Alert] = []
        for sym in sorted(best, key=lambda m: (-best[m], m)):
            last = self._last_alert.get(sym)
            if sym in self._disarmed or (last is not None and ts - last < cooldown_ns):
                continue
            self._last_alert[sym] = ts
            self._disarmed.add(sym)
            fired.append(
                Alert(
                    ts=ts,
                    symbol=sym,
                    p_inplay=best[sym],
                    direction=(directions or {}).get(sym, Direction.FLAT),
                    reason_codes=(reasons or {}).get(sym, ()),
                )
            )
        return fired
