"""Promise vs reality: alerts resolved at t+H with the label policy beside their backtest
promise, and a divergence that needs both enough alerts and non-overlapping CIs."""

from __future__ import annotations

import numpy as np
import pytest

from csx_core.contracts import Direction, PredictionSnapshot
from csx_core.ml.edge import EdgeTable
from csx_core.outcomes.promise import AlertBook
from csx_core.outcomes.resolver import Resolved, label_values

S = 1_000_000_000
H = 300 * S
THRESHOLD = 25.0
COST = 15.0
# One bucket: the backtest promised +4 bps per trade [+1, +7], a 55 % hit rate.
TABLE = EdgeTable(
    p_edges=(0.0, 1.0),
    conf_edges=(0.0, 1.0),
    mean_bps=((4.0,),),
    ci_low=((1.0,),),
    ci_high=((7.0,),),
    trades=((500,),),
    min_trades=30,
    hit_rate=((0.55,),),
)


def alert(symbol: str, ts: int, direction: Direction) -> PredictionSnapshot:
    return PredictionSnapshot(
        symbol=symbol,
        ts=ts,
        p_inplay=0.8,
        raw_score=1.0,
        direction=direction,
        direction_confidence=0.7,
        backtest_net_edge_bps=4.0,
        model_id="m",
        reason_codes=(),
    )


def resolved(
    ts: int, symbols: list[str], mfe_long: list[float], fwd: list[float], stop: bool = False
) -> Resolved:
    """Rows labelled the way the resolver does (``label_values``), from the window's extremes."""
    mid = np.full(len(symbols), 100.0)
    high = mid * (1 + np.array(mfe_long) / 1e4)
    end = mid * (1 + np.array(fwd) / 1e4)
    low = np.minimum(mid, end)
    labels = label_values(
        mid, high, low, np.full(len(mid), COST), end, THRESHOLD, 30.0 if stop else None
    )
    n = len(symbols)
    return Resolved(
        "champion", "m", ts, symbols, np.full(n, 0.8), np.ones(n, np.int8), np.ones(n, bool), labels
    )


def book(**kw: object) -> AlertBook:
    return AlertBook(edge=TABLE, horizon_ns=H, **kw)  # type: ignore[arg-type]


def test_alerts_resolve_with_the_label_policy_beside_their_promise() -> None:
    b = book(min_resolved=2)
    b.on_alerts([alert("A", 0, Direction.UP), alert("B", 0, Direction.DOWN)])
    b.on_alerts([alert("C", 0, Direction.EITHER)])
    # A's long reached cost + threshold (15 + 25 < 50): +25. B's short did not: the short
    # exits at t+H, the mid rose 10 bps: −10 − 15 = −25.
    b.on_resolved(H, [resolved(H, ["A", "B"], [50.0, 10.0], [5.0, 10.0])])
    s = b.summary()
    assert s["resolved"] == 2
    assert s["no_direction"] == 1
    assert s["net_bps"] == pytest.approx(0.0)
    assert s["hit_rate"] == pytest.approx(0.5)
    assert s["promised_net_bps"] == pytest.approx(4.0)
    assert s["promised_net_bps_ci"] == [1.0, 7.0]
    assert s["promised_hit_rate"] == pytest.approx(0.55)
    assert s["diverged"] is False  # the realised CI over 2 alerts is far too wide


def test_divergence_needs_enough_alerts_and_disjoint_intervals() -> None:
    b = book(min_resolved=20, window=50)
    for i in range(30):
        b.on_alerts([alert(f"S{i}", i * S, Direction.UP)])
    # Every long misses the barrier and loses about the cost: realised −15 ± a little.
    for i in range(30):
        t = H + i * S
        b.on_resolved(t, [resolved(t, [f"S{i}"], [5.0], [0.1 * (i % 3)])])
        if i == 18:
            assert b.summary()["diverged"] is False, "19 resolved alerts are not enough"
    s = b.summary()
    assert s["resolved"] == 30
    assert s["net_bps"] < s["net_bps_ci"][1] < 1.0  # its CI is below the promised CI
    assert s["diverged"] is True


def test_alerts_that_never_resolve_are_counted_and_unknown_edges_stay_unknown() -> None:
    b = AlertBook(edge=None, horizon_ns=H)
    b.on_alerts([alert("A", 0, Direction.UP)])
    b.on_resolved(3 * H, [])  # its row was dropped (a gap): it expires after 2H
    s = b.summary()
    assert (s["unresolved"], s["pending"], s["resolved"]) == (1, 0, 0)
    assert s["net_bps"] is None
    assert s["promised_net_bps"] is None
    stopped = book()
    stopped.on_alerts([alert("A", 0, Direction.UP)])
    stopped.on_resolved(H, [resolved(H, ["A"], [50.0], [5.0], stop=True)])
    assert stopped.summary()["unknown_outcome"] == 1, "a stop needs the path: unknown"
