"""Every real Binance USD-M frame in ../shared/realdata decodes; counts and ordering hold.

Ordering found in the captures (and asserted): per stream, event time ``E`` never goes
backwards; aggTrade ``a``, trade ``t``, bookTicker ``u`` and depth ``u`` strictly increase;
every diff-depth update's ``pu`` equals the previous update's ``u`` (no gaps in these
captures); kline ``t`` (bar open) never goes backwards. Across streams ``E`` is not ordered
and nothing is asserted there.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from csx_core.contracts import BookTop, Kline, Liquidation, MarkPrice, Trade
from csx_core.wire import (
    Control,
    DepthSnapshot,
    DepthUpdate,
    FrameDecoder,
    Ignored,
    WireError,
    decode_depth_snapshot,
    decode_frame,
    partial_depth_top,
)
from csx_live.universe import select_universe

pytestmark = pytest.mark.realdata

Line = tuple[int, bytes]  # (local receive time ns, raw JSON)


def _cryptofeed(path: Path) -> Iterator[Line]:
    with path.open("rb") as f:
        next(f)  # "<ws url> <-> <connect ts>"
        for line in f:
            ts, _, js = line.partition(b": ")
            yield round(float(ts) * 1e9), js.strip()


def _spaced(path: Path, ns_per_unit: int) -> Iterator[Line]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for line in f:
            ts, _, js = line.partition(b" ")
            yield int(ts) * ns_per_unit, js.strip()


CAPTURES = {
    "cryptofeed_2021": (
        "cryptofeed_usdm_2021-07-22/BINANCE_FUTURES.ws.1.0",
        _cryptofeed,
        {
            "sushiusdt@bookTicker": 305,
            "sushiusdt@depth@100ms": 255,
            "akrousdt@depth@100ms": 189,
            "keepusdt@depth@100ms": 135,
            "ctkusdt@depth@100ms": 185,
            "ctkusdt@kline_1m": 32,
            "ctkusdt@bookTicker": 145,
            "ctkusdt@aggTrade": 38,
            "akrousdt@kline_1m": 8,
            "akrousdt@bookTicker": 88,
            "akrousdt@aggTrade": 8,
            "keepusdt@bookTicker": 75,
            "sushiusdt@kline_1m": 22,
            "sushiusdt@aggTrade": 40,
            "keepusdt@kline_1m": 5,
            "keepusdt@aggTrade": 5,
        },
    ),
    "hftbacktest_btc_2024": (
        "hftbacktest_usdm_2024-08-08/btcusdt_20240808.gz",
        lambda p: _spaced(p, 1),
        {
            "btcusdt@depth@0ms": 6551,
            "btcusdt@bookTicker": 66089,
            "btcusdt@trade": 21313,
            "REST_depth_snapshot": 1,
        },
    ),
    "hftbacktest_eth_2024": (
        "hftbacktest_usdm_2024-08-08/ethusdt_20240808.gz",
        lambda p: _spaced(p, 1),
        {
            "ethusdt@depth@0ms": 6586,
            "ethusdt@bookTicker": 53992,
            "ethusdt@trade": 14076,
            "REST_depth_snapshot": 1,
        },
    ),
    "collect_binancefutures_2022": (
        "collect-binancefutures_usdm_2022-08-11/btcusdt_20220811.dat",
        lambda p: _spaced(p, 1_000),
        {"btcusdt@trade": 1326, "REST_depth_snapshot": 1, "btcusdt@depth@0ms": 206},
    ),
}


class _Stream(msgspec.Struct):
    stream: str


_STREAM = msgspec.json.Decoder(_Stream)


def _sequence_id(out: object) -> int | None:
    if isinstance(out, Trade):
        return out.trade_id
    if isinstance(out, BookTop):
        return out.update_id
    if isinstance(out, DepthUpdate):
        return out.final_update_id
    return None


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_capture_decodes_with_readme_counts_and_ordering(realdata: Path, name: str) -> None:
    rel, reader, expected = CAPTURES[name]
    decoder = FrameDecoder()
    counts: Counter[str] = Counter()
    last_time: dict[str, int] = {}
    last_id: dict[str, int] = {}
    last_open: dict[str, int] = {}
    for ts_recv, raw in reader(realdata / rel):
        if raw.startswith(b'{"lastUpdateId"'):
            snap = decode_depth_snapshot(raw)
            assert isinstance(snap, DepthSnapshot), snap
            assert snap.bids
            assert snap.asks
            assert snap.bids[0][0] < snap.asks[0][0]
            counts["REST_depth_snapshot"] += 1
            continue
        out = decoder.decode(raw, ts_recv)
        assert not isinstance(out, (WireError, Control, Ignored)), (out, raw[:200])
        stream = _STREAM.decode(raw).stream
        counts[stream] += 1
        assert out.ts_recv == ts_recv
        assert out.ts_event >= last_time.get(stream, 0), f"{stream}: E went backwards"
        last_time[stream] = out.ts_event
        seq = _sequence_id(out)
        if seq is not None:
            if isinstance(out, DepthUpdate) and stream in last_id:
                assert out.prev_final_update_id == last_id[stream], f"{stream}: pu gap"
            assert seq > last_id.get(stream, -1), f"{stream}: id not increasing"
            last_id[stream] = seq
        if isinstance(out, Kline):
            assert out.open_time >= last_open.get(stream, 0)
            last_open[stream] = out.open_time
    assert dict(counts) == expected
    assert decoder.total_errors == 0
    assert decoder.total == sum(n for s, n in expected.items() if s != "REST_depth_snapshot")


def _sample(realdata: Path, name: str) -> bytes:
    return (realdata / "ws_samples" / name).read_bytes()


WS_SAMPLES: dict[str, type] = {
    "usdm_combined_aggTrade_cryptofeed_2021.json": Trade,
    "usdm_combined_bookTicker_cryptofeed_2021.json": BookTop,
    "usdm_combined_bookTicker_hftbacktest_2024.json": BookTop,
    "usdm_combined_depth0ms_hftbacktest_2024.json": DepthUpdate,
    "usdm_combined_depth100ms_cryptofeed_2021.json": DepthUpdate,
    "usdm_combined_forceOrder_tardis-node-test_2020.json": Liquidation,
    "usdm_combined_kline1m_closed_cryptofeed_2021.json": Kline,
    "usdm_combined_kline1m_open_cryptofeed_2021.json": Kline,
    "usdm_combined_markPrice1s_tardis-node-test_2020.json": MarkPrice,
    "usdm_combined_markPrice3s_legacy_tardis-node-test_2019.json": MarkPrice,
    "usdm_combined_ticker24hr_tardis-node-test_2019.json": Ignored,
    "usdm_combined_trade_hftbacktest_2024.json": Trade,
    "usdm_combined_trade_insurance_fund_tardis-node-test_2020.json": Trade,
}


def test_every_ws_sample_is_known_to_this_test(realdata: Path) -> None:
    names = {p.name for p in (realdata / "ws_samples").glob("*.json")}
    rest = {n for n in names if n.startswith("rest_")}
    assert names - rest == set(WS_SAMPLES)
    assert len(rest) == 3


@pytest.mark.parametrize("name", sorted(WS_SAMPLES))
def test_ws_sample_decodes(realdata: Path, name: str) -> None:
    out = decode_frame(_sample(realdata, name), ts_recv=1)
    assert isinstance(out, WS_SAMPLES[name]), out


def test_ws_sample_values(realdata: Path) -> None:
    agg = decode_frame(_sample(realdata, "usdm_combined_aggTrade_cryptofeed_2021.json"), 7)
    assert agg == Trade(
        symbol="CTKUSDT",
        ts_event=1626992741575 * 1_000_000,
        ts_recv=7,
        trade_id=16599292,
        price=1.011,
        qty=10.0,
        buyer_is_maker=False,
    )
    legacy = decode_frame(
        _sample(realdata, "usdm_combined_markPrice3s_legacy_tardis-node-test_2019.json"), 7
    )
    assert isinstance(legacy, MarkPrice)
    assert legacy.index_price is None
    assert legacy.funding_rate == 0.0001
    fund = decode_frame(
        _sample(realdata, "usdm_combined_trade_insurance_fund_tardis-node-test_2020.json"), 7
    )
    assert isinstance(fund, Trade)
    assert fund.buyer_is_maker
    assert fund.trade_id == 73701056


def test_ws_sample_partial_depth_top(realdata: Path) -> None:
    update = decode_frame(_sample(realdata, "usdm_combined_depth100ms_cryptofeed_2021.json"), 1)
    assert isinstance(update, DepthUpdate)
    top = partial_depth_top(update, levels=5)
    assert not isinstance(top, WireError)
    assert (top.book.bid_price, top.book.ask_price) == (7.611, 7.615)
    assert top.imbalance == pytest.approx((815 - 4847) / (815 + 4847))


@pytest.mark.parametrize(
    ("name", "last_update_id", "has_time"),
    [
        ("rest_fapi_v1_depth_BTCUSDT_hftbacktest_2024.json", 5123107852948, True),
        ("rest_fapi_v1_depth_limit1000_SUSHIUSDT_cryptofeed_2021.json", None, None),
    ],
)
def test_rest_depth_sample_decodes(
    realdata: Path, name: str, last_update_id: int | None, has_time: bool | None
) -> None:
    snap = decode_depth_snapshot(_sample(realdata, name))
    assert isinstance(snap, DepthSnapshot), snap
    assert len(snap.bids) > 100
    assert len(snap.asks) > 100
    assert all(a[0] > b[0] for a, b in zip(snap.bids, snap.bids[1:], strict=False))
    assert all(a[0] < b[0] for a, b in zip(snap.asks, snap.asks[1:], strict=False))
    assert snap.last_update_id > 0
    if last_update_id is not None:
        assert snap.last_update_id == last_update_id
    if has_time is not None:
        assert (snap.ts_event is not None) == has_time


def test_rest_exchange_info_sample_parses(realdata: Path) -> None:
    body = _sample(realdata, "rest_fapi_v1_exchangeInfo_full_cryptofeed_2021-07.json")
    info = msgspec.json.decode(body)
    assert len(info["symbols"]) == 122
    universe = select_universe(info)
    assert 100 < len(universe.symbols) <= 119


def _rest_depth_bodies(path: Path) -> Iterator[tuple[str, bytes]]:
    """``<url> -> <ts>: <body>`` lines of cryptofeed's HTTP capture, as (symbol, body)."""
    with path.open("rb") as f:
        for line in f:
            url, sep, rest = line.partition(b" -> ")
            if sep and b"/fapi/v1/depth?" in url:
                symbol = url.split(b"symbol=")[1].split(b"&")[0].decode()
                yield symbol, rest.partition(b": ")[2].strip()


def test_rest_depth_snapshots_bridge_into_the_diff_stream(realdata: Path) -> None:
    """The decoded ids let a local book sync: for each REST snapshot, the first diff update
    with ``u >= lastUpdateId`` has ``U <= lastUpdateId`` (Binance's documented rule)."""
    base = realdata / "cryptofeed_usdm_2021-07-22"
    snapshots = dict(_rest_depth_bodies(base / "BINANCE_FUTURES.http.0.0"))
    assert sorted(snapshots) == ["AKROUSDT", "CTKUSDT", "KEEPUSDT", "SUSHIUSDT"]
    updates = [
        out
        for ts, raw in _cryptofeed(base / "BINANCE_FUTURES.ws.1.0")
        if isinstance(out := decode_frame(raw, ts), DepthUpdate)
    ]
    for symbol, body in snapshots.items():
        snap = decode_depth_snapshot(body)
        assert isinstance(snap, DepthSnapshot), snap
        later = [
            u for u in updates if u.symbol == symbol and u.final_update_id >= snap.last_update_id
        ]
        assert later, symbol
        assert later[0].first_update_id <= snap.last_update_id, symbol
