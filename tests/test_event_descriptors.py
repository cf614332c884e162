"""One descriptor per event kind: every per-kind table in the platform derives from it."""

from __future__ import annotations

import typing

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from csx_core.contracts import (
    DESCRIPTORS,
    EVENT_DESCRIPTORS,
    EVENT_KINDS,
    EVENT_TYPES,
    KIND_ORDER,
    EventDescriptor,
    Kline,
    MarketEvent,
    Trade,
)
from csx_core.contracts.kinds import in_merge_order
from csx_core.features.buckets import Buckets
from csx_core.features.fill import FILLS, fill_event, fill_table, with_symbol_codes
from csx_core.store.keys import DEDUP_KEYS, SORT_KEYS, unique_mask
from csx_core.store.merge import to_events
from csx_core.wire.counters import DECODED_KINDS
from csx_live.connectors.plan import route_of

NS = 1_000_000_000
T0 = 1_767_225_600 * NS  # 2026-01-01


def test_merge_order_is_the_recorded_one() -> None:
    """Every stored digest depends on this order: changing it is a format change."""
    assert KIND_ORDER == ("trade", "book_top", "kline", "mark_price", "liquidation")
    assert tuple(EVENT_KINDS) == KIND_ORDER
    assert [d.merge_rank for d in EVENT_DESCRIPTORS] == list(range(len(KIND_ORDER)))


def test_every_market_event_contract_has_exactly_one_descriptor() -> None:
    assert set(typing.get_args(MarketEvent)) == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == len(set(EVENT_TYPES)) == len(DESCRIPTORS)
    assert all(DESCRIPTORS[k].contract is EVENT_KINDS[k] for k in KIND_ORDER)


@pytest.mark.parametrize("descriptor", EVENT_DESCRIPTORS, ids=lambda d: d.kind)
def test_descriptor_names_real_fields_fills_and_routed_channels(
    descriptor: EventDescriptor,
) -> None:
    fields = set(descriptor.contract.__struct_fields__)
    assert "symbol" in descriptor.dedup_keys
    assert set(descriptor.dedup_keys) <= fields
    assert set(descriptor.newest_wins) <= fields
    assert DEDUP_KEYS[descriptor.kind] == descriptor.dedup_keys
    assert SORT_KEYS[descriptor.kind][:2] == ("ts_event", "symbol")
    assert set(SORT_KEYS[descriptor.kind]) == {"ts_event", *descriptor.dedup_keys}
    assert descriptor.fill is None or descriptor.fill in FILLS
    assert descriptor.channels
    for channel in descriptor.channels:
        assert route_of(f"btcusdt@{channel}") == descriptor.route


def test_every_fill_is_used_by_some_kind() -> None:
    assert {d.fill for d in EVENT_DESCRIPTORS} - {None} == set(FILLS)


def test_decoder_counts_every_event_kind_first() -> None:
    assert DECODED_KINDS[: len(KIND_ORDER)] == KIND_ORDER


def test_merge_ranks_must_be_dense_and_kinds_unique() -> None:
    trade, book = DESCRIPTORS["trade"], DESCRIPTORS["book_top"]
    with pytest.raises(ValueError, match="merge ranks"):
        in_merge_order(trade, EventDescriptor(**{**vars(book), "merge_rank": 5}))
    with pytest.raises(ValueError, match="unique"):
        in_merge_order(trade, EventDescriptor(**{**vars(trade), "merge_rank": 1}))


def _trade(ts: int, trade_id: int) -> Trade:
    return Trade(
        symbol="BTCUSDT",
        ts_event=ts,
        ts_recv=ts,
        trade_id=trade_id,
        price=100.0,
        qty=0.5,
        buyer_is_maker=False,
    )


@pytest.fixture(scope="module")
def sim_day() -> dict[str, pa.Table]:
    from csx_core.sim import SimConfig
    from csx_core.sim.market import simulate_day

    return simulate_day(SimConfig(seed=3, n_symbols=2, days=1), 0)


@pytest.mark.parametrize("kind", KIND_ORDER)
def test_from_row_rebuilds_what_from_arrow_reads(kind: str, sim_day: dict[str, pa.Table]) -> None:
    table = sim_day[kind].slice(0, 50)
    assert table.num_rows > 0
    contract = EVENT_KINDS[kind]
    assert to_events(kind, table) == contract.from_arrow(table)


def _kline_rows(closed: list[bool], ts_event: list[int]) -> pa.Table:
    bar = Kline(
        symbol="BTCUSDT",
        ts_event=T0,
        ts_recv=T0,
        interval="1m",
        open_time=T0,
        close_time=T0 + 60 * NS - 1,
        open=1.0,
        high=2.0,
        low=0.5,
        close=1.5,
        volume=3.0,
        quote_volume=4.0,
        trades=5,
        taker_buy_volume=1.0,
        taker_buy_quote_volume=1.0,
        closed=False,
    )
    bars = [
        msgspec.structs.replace(bar, closed=c, ts_event=t, ts_recv=t)
        for c, t in zip(closed, ts_event, strict=True)
    ]
    return Kline.to_arrow(bars)


def test_newest_wins_keeps_the_closed_then_latest_kline() -> None:
    table = _kline_rows([False, True, False, True], [T0 + 3, T0 + 1, T0 + 9, T0 + 2])
    assert unique_mask("kline", table).tolist() == [False, False, False, True]


def test_without_newest_wins_the_first_occurrence_stays() -> None:
    table = Trade.to_arrow([_trade(T0 + 5, 7), _trade(T0 + 1, 7), _trade(T0 + 2, 8)])
    assert unique_mask("trade", table).tolist() == [True, False, True]


class _Unknown:
    """Not a market event: no descriptor knows it."""

    symbol = "BTCUSDT"
    ts_event = T0


def test_both_fill_paths_refuse_an_unknown_kind_alike() -> None:
    b = Buckets(gap_after_s=120)
    with pytest.raises(ValueError, match="unknown event kind"):
        fill_event(b, _Unknown())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown event kind"):
        fill_table(b, "depth", Trade.to_arrow([]))
    assert b.n == 0  # refused before any symbol was registered


def test_both_fill_paths_skip_an_open_kline_alike() -> None:
    live, offline = Buckets(gap_after_s=120), Buckets(gap_after_s=120)
    table = _kline_rows([False, True], [T0 + 1, T0 + 2])
    for event in Kline.from_arrow(table):
        fill_event(live, event)
    fill_table(offline, "kline", table)
    assert np.array_equal(live.isum, offline.isum)
    assert live.isum.sum() > 0
    open_only = _kline_rows([False], [T0 + 1])
    empty = Buckets(gap_after_s=120)
    fill_event(empty, Kline.from_arrow(open_only)[0])
    fill_table(empty, "kline", open_only)
    assert empty.n == 0
    assert empty.isum.sum() == 0


def test_a_dictionary_encoded_symbol_column_fills_as_the_plain_one(
    sim_day: dict[str, pa.Table],
) -> None:
    """``drive`` encodes each batch's symbols once and fills its slices: a slice's
    dictionary names symbols the slice does not hold, and only those it holds register."""
    trades = sim_day["trade"].slice(0, 5_000)
    plain, coded = Buckets(gap_after_s=60), Buckets(gap_after_s=60)
    first = int(trades["ts_event"][0].as_py()) // 1_000_000_000
    plain.closed = coded.closed = first
    encoded = with_symbol_codes(trades)
    assert pa.types.is_dictionary(encoded.schema.field("symbol").type)
    one = encoded.filter(pc.equal(encoded["symbol"], trades["symbol"][0]))
    fill_table(plain, "trade", trades.filter(pc.equal(trades["symbol"], trades["symbol"][0])))
    fill_table(coded, "trade", one)
    assert coded.names == plain.names == [trades["symbol"][0].as_py()]
    fill_table(plain, "trade", trades)
    fill_table(coded, "trade", encoded)
    assert coded.names == plain.names
    for ring in ("isum", "fmax", "flast"):
        assert getattr(coded, ring).tobytes() == getattr(plain, ring).tobytes(), ring
