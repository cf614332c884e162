"""One code path: live ``on_event`` and columnar batches (split anywhere) agree bit for bit."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.contracts import (
    EVENT_KINDS,
    BookTop,
    FeatureSnapshot,
    Kline,
    Liquidation,
    MarketEvent,
    MarkPrice,
    Side,
    Trade,
    event_kind,
)
from csx_core.features import (
    EngineConfig,
    FeatureEngine,
    SnapshotDigest,
    digest_frames,
    digest_table,
    drive_events,
    drive_tables,
    frames_to_table,
    snapshots_of,
)

S = 1_000_000_000
T0 = 1_700_000_000 * S
SYMBOLS = ("BTCUSDT", "ETHUSDT", "XRPUSDT")


def tables_of(events: Sequence[MarketEvent]) -> dict[str, pa.Table]:
    groups: dict[str, list[MarketEvent]] = {}
    for event in events:
        groups.setdefault(event_kind(event), []).append(event)
    return {k: EVENT_KINDS[k].to_arrow(v) for k, v in groups.items()}  # type: ignore[arg-type]


@st.composite
def event_streams(draw: st.DrawFn) -> list[MarketEvent]:
    n = draw(st.integers(min_value=1, max_value=80))
    ts = T0 + draw(st.integers(min_value=0, max_value=10 * S))
    out: list[MarketEvent] = []
    for k in range(n):
        ts += draw(
            st.one_of(
                st.integers(min_value=0, max_value=S),
                st.sampled_from([0, 0, 999_999_999, 999_999_999, 61 * S + 1]),
            )
        )
        sym = draw(st.sampled_from(SYMBOLS))
        price = draw(st.floats(min_value=0.01, max_value=1e5))
        qty = draw(st.floats(min_value=1e-4, max_value=1e4))
        kind = draw(st.sampled_from(["trade", "trade", "book", "mark", "liq", "kline"]))
        common = {"symbol": sym, "ts_event": ts, "ts_recv": ts}
        if kind == "trade":
            out.append(
                Trade(
                    **common, trade_id=k, price=price, qty=qty, buyer_is_maker=draw(st.booleans())
                )
            )
        elif kind == "book":
            spread = draw(st.floats(min_value=0.0, max_value=0.01))
            out.append(
                BookTop(
                    **common,
                    update_id=k,
                    bid_price=price,
                    bid_qty=qty,
                    ask_price=price * (1 + spread),
                    ask_qty=draw(st.floats(min_value=0.0, max_value=1e4)),
                )
            )
        elif kind == "mark":
            index = draw(st.one_of(st.none(), st.just(price * 1.001)))
            out.append(
                MarkPrice(
                    **common,
                    mark_price=price,
                    index_price=index,
                    funding_rate=draw(st.floats(min_value=-0.01, max_value=0.01)),
                    next_funding_time=0,
                )
            )
        elif kind == "liq":
            out.append(
                Liquidation(
                    **common,
                    side=draw(st.sampled_from(Side)),
                    price=price,
                    avg_price=draw(st.sampled_from([0.0, price])),
                    qty=qty,
                    filled_qty=draw(st.sampled_from([0.0, qty])),
                    status="FILLED",
                )
            )
        else:
            out.append(
                Kline(
                    **common,
                    interval="1m",
                    open_time=ts - 60 * S,
                    close_time=ts,
                    open=price,
                    high=price * 1.01,
                    low=price * 0.99,
                    close=price,
                    volume=qty,
                    quote_volume=price * qty,
                    trades=draw(st.integers(min_value=0, max_value=1000)),
                    taker_buy_volume=qty / 2,
                    taker_buy_quote_volume=price * qty / 2,
                    closed=draw(st.booleans()),
                )
            )
    return out


@settings(max_examples=25, deadline=None)
@given(
    events=event_streams(),
    cuts=st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=4),
    cadence=st.sampled_from([1, 2, 5]),
)
def test_live_and_any_batch_split_give_identical_snapshots(
    events: list[MarketEvent], cuts: list[float], cadence: int
) -> None:
    config = EngineConfig(cadence_s=cadence)
    live = list(drive_events(FeatureEngine(config), events))
    positions = sorted({int(c * len(events)) for c in cuts} | {0, len(events)})
    batches = [tables_of(events[a:b]) for a, b in itertools.pairwise(positions)]
    batch = list(drive_tables(FeatureEngine(config), batches))
    assert digest_frames(batch) == digest_frames(live)
    assert [f.ts for f in batch] == [f.ts for f in live]
    live_json = [s.to_json() for f in live for s in snapshots_of(f)]
    assert [s.to_json() for f in batch for s in snapshots_of(f)] == live_json
    assert digest_table(frames_to_table(batch)) == digest_frames(live)


@settings(max_examples=6, deadline=None)
@given(events=event_streams())
def test_digest_of_snapshots_survives_a_json_round_trip(events: list[MarketEvent]) -> None:
    frames = list(drive_events(FeatureEngine(), events))
    decoded = [FeatureSnapshot.from_json(s.to_json()) for f in frames for s in snapshots_of(f)]
    digest = SnapshotDigest()
    digest.update_snapshots(decoded)
    assert digest.hexdigest() == digest_frames(frames)
    assert digest.rows == sum(len(f) for f in frames)


def test_digest_changes_when_one_value_changes() -> None:
    events = [
        Trade(
            symbol="BTCUSDT",
            ts_event=T0 + k * S // 3,
            ts_recv=0,
            trade_id=k,
            price=100.0 + k,
            qty=1.0,
            buyer_is_maker=False,
        )
        for k in range(30)
    ]
    frames = list(drive_events(FeatureEngine(), events))
    nudged = list(frames)
    values = nudged[-1].values.copy()
    values[0, 3] = values[0, 3] + 1e-12 if values[0, 3] == values[0, 3] else 0.0
    nudged[-1] = type(frames[-1])(
        frames[-1].ts,
        frames[-1].symbols,
        frames[-1].warm,
        frames[-1].gap,
        frames[-1].prices,
        values,
    )
    assert digest_frames(nudged) != digest_frames(frames)
