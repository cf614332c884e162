"""Promise vs reality: each alert's backtest promise beside what it realised at t+H.

An alert with a called direction is a trade of the label policy (``csx_core.ml.policy``).
When the outcome resolver labels its row at t+H, the realised net bps is its label-policy
column for the called side, the same function the backtest priced with
(``csx_core.ml.policy.barrier_outcomes``); a label with a stop needs the path inside the
window, which the streaming resolver does not keep: those outcomes stay unknown, counted.

The promise of each alert is its own cell of the package's backtest net edge table (mean net
bps, its CI, its hit rate). Over the last ``window`` resolved alerts the book reports the
realised hit rate and mean net bps (with a normal-approximation 95 % CI) beside the mean
promise, and calls them ``diverged`` when at least ``min_resolved`` alerts resolved and the
realised CI lies wholly outside the promised CI: an honest "beyond the promised CI" that
does not fire on the noise of a handful of alerts. Time is the tick ``ts`` passed in.

Each alert's own outcome (hit or miss and its realised net bps, or unknown) is kept too, the
last ``history`` of them, for the dashboard's alert history (:meth:`AlertBook.resolved_alerts`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from csx_core.contracts import Direction, PredictionSnapshot
from csx_core.ml.edge import EdgeTable
from csx_core.ml.scorer import known
from csx_core.outcomes.resolver import Resolved

_SIGN = {Direction.UP: 1, Direction.DOWN: -1}
Z95 = 1.959964


@dataclass(frozen=True)
class _Pending:
    direction: int
    promised_bps: float
    promised_low: float
    promised_high: float
    promised_hit: float


@dataclass(frozen=True)
class ResolvedAlert:
    """One champion alert resolved at t+H: ``ts`` its tick (ns), ``net_bps`` what the label
    policy realised for the called side (None: unknown, e.g. a stop needed the path);
    ``hit`` is ``net_bps > 0``."""

    symbol: str
    ts: int
    direction: str
    net_bps: float | None
    hit: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "ts": self.ts,
            "direction": self.direction,
            "net_bps": self.net_bps,
            "hit": self.hit,
        }


@dataclass(frozen=True)
class _Outcome:
    net_bps: float
    promised_bps: float
    promised_low: float
    promised_high: float
    promised_hit: float


class AlertBook:
    """Tracks alerts from firing to resolution (see the module docstring)."""

    def __init__(
        self,
        *,
        edge: EdgeTable | None,
        horizon_ns: int,
        window: int = 50,
        min_resolved: int = 20,
        role: str = "champion",
        history: int = 200,
    ) -> None:
        self.edge = edge
        self.horizon_ns = horizon_ns
        self.min_resolved = min_resolved
        self.role = role
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._done: deque[_Outcome] = deque(maxlen=window)
        self._history: deque[ResolvedAlert] = deque(maxlen=history)
        self.alerts = 0
        self.no_direction = 0
        self.unresolved = 0
        self.unknown_outcome = 0
        self.resolved_total = 0

    def on_alerts(self, alerts: Sequence[PredictionSnapshot]) -> None:
        """Alerts fired at this tick; one without a called direction is not a trade."""
        for alert in alerts:
            self.alerts += 1
            sign = _SIGN.get(alert.direction)
            if sign is None:
                self.no_direction += 1
                continue
            self._pending[(alert.symbol, alert.ts)] = self._promise(alert, sign)

    def _promise(self, alert: PredictionSnapshot, sign: int) -> _Pending:
        nan = math.nan
        if self.edge is None:
            return _Pending(sign, nan, nan, nan, nan)
        p = np.array([alert.p_inplay])
        d = np.array([sign], dtype=np.int8)
        conf = np.array([nan if alert.direction_confidence is None else alert.direction_confidence])
        low, high = self.edge.lookup_ci(p, d, conf)
        return _Pending(
            direction=sign,
            promised_bps=float(self.edge.lookup(p, d, conf)[0]),
            promised_low=float(low[0]),
            promised_high=float(high[0]),
            promised_hit=float(self.edge.lookup_hit_rate(p, d, conf)[0]),
        )

    def on_resolved(self, ts: int, resolved: Sequence[Resolved]) -> None:
        """What the resolver labelled at tick ``ts`` (predictions made at ``ts − H``)."""
        made = ts - self.horizon_ns
        for batch in resolved:
            if batch.role != self.role or not self._pending:
                continue
            for i, symbol in enumerate(batch.symbols):
                pending = self._pending.pop((symbol, made), None)
                if pending is None:
                    continue
                outcome = self._outcome(pending, batch.labels, i)
                direction = "UP" if pending.direction > 0 else "DOWN"
                self.resolved_total += 1
                if outcome is None:
                    self.unknown_outcome += 1
                    self._history.append(ResolvedAlert(symbol, made, direction, None, None))
                    continue
                self._done.append(outcome)
                self._history.append(
                    ResolvedAlert(symbol, made, direction, outcome.net_bps, outcome.net_bps > 0)
                )
        self._expire(ts)

    def _outcome(self, pending: _Pending, labels: dict[str, Any], i: int) -> _Outcome | None:
        """The resolver's own label-policy column for the called side (NaN: unknown)."""
        side = "policy_long_bps" if pending.direction > 0 else "policy_short_bps"
        net = float(labels[side][i])
        if not math.isfinite(net):
            return None
        return _Outcome(
            net,
            pending.promised_bps,
            pending.promised_low,
            pending.promised_high,
            pending.promised_hit,
        )

    def _expire(self, ts: int) -> None:
        """Alerts whose row the resolver dropped (a gap, a missing tick) never resolve."""
        late = [k for k in self._pending if k[1] < ts - 2 * self.horizon_ns]
        for key in late:
            del self._pending[key]
        self.unresolved += len(late)

    @property
    def revision(self) -> tuple[int, int, int]:
        """Changes whenever :meth:`summary` would: an alert fired, resolved or expired."""
        return (self.alerts, self.resolved_total, self.unresolved)

    def resolved_alerts(self) -> tuple[ResolvedAlert, ...]:
        """The last ``history`` resolved alerts, oldest first."""
        return tuple(self._history)

    def summary(self) -> dict[str, Any]:
        """JSON-safe: None wherever nothing backs a number."""
        done = list(self._done)
        n = len(done)
        net = np.array([o.net_bps for o in done])
        realised_net = float(net.mean()) if n else math.nan
        spread = Z95 * float(net.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
        realised_ci = (realised_net - spread, realised_net + spread)
        promised = _mean([o.promised_bps for o in done])
        promised_ci = (
            _mean([o.promised_low for o in done]),
            _mean([o.promised_high for o in done]),
        )
        diverged = (
            n >= self.min_resolved
            and all(math.isfinite(v) for v in (*realised_ci, *promised_ci))
            and (realised_ci[1] < promised_ci[0] or realised_ci[0] > promised_ci[1])
        )
        return {
            "window": self._done.maxlen,
            "resolved": n,
            "pending": len(self._pending),
            "alerts": self.alerts,
            "no_direction": self.no_direction,
            "unresolved": self.unresolved,
            "unknown_outcome": self.unknown_outcome,
            "hit_rate": known(float((net > 0).mean()) if n else math.nan),
            "net_bps": known(realised_net),
            "net_bps_ci": [known(realised_ci[0]), known(realised_ci[1])],
            "promised_hit_rate": known(_mean([o.promised_hit for o in done])),
            "promised_net_bps": known(promised),
            "promised_net_bps_ci": [known(promised_ci[0]), known(promised_ci[1])],
            "diverged": bool(diverged),
            "horizon_s": self.horizon_ns / 1e9,
            "resolved_alerts": [a.to_dict() for a in self._history],
            "source": "alerts resolved at t+H with the label policy vs each alert's cell of "
            "the package's backtest net edge table",
        }


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan
