"""The fake exchange over real sockets: routed streams, control protocol, limits, replay."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from csx_core.contracts import BookTop, Kline, Liquidation, MarketEvent, MarkPrice, Side, Trade
from csx_core.wire import decode_frame
from csx_live.exchange import (
    ExchangeConfig,
    FakeExchange,
    Faults,
    ListSource,
    Replayer,
    StoreSource,
)
from csx_live.exchange.control import handle_control, normalise_stream

pytestmark = pytest.mark.timeout(30)

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
MS = 1_000_000
NS = 1_000_000_000
ROOT = Path(__file__).resolve().parents[1]


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], within_s: float = 5.0, what: str = ""
) -> None:
    """Poll ``predicate`` every 10 ms until true; fail after ``within_s`` seconds."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not met within {within_s} s: {what or predicate}")
        await asyncio.sleep(0.01)


class ManualClock:
    """Replay clock that moves only when the test calls ``advance``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self._moved = asyncio.Event()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        target = self.now + seconds
        while self.now < target - 1e-9:
            moved = self._moved
            await moved.wait()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()


def make_events(n: int = 20, start_ns: int = T0) -> list[MarketEvent]:
    """A warm-up book top (WARMUSDT at ``start_ns``, published before clients connect) and
    ``n`` steps of every event kind for BTCUSDT plus ETHUSDT book tops, 100 ms apart."""
    events: list[MarketEvent] = [
        BookTop(symbol="WARMUSDT", ts_event=start_ns, ts_recv=start_ns, update_id=1,
                bid_price=1.0, bid_qty=1.0, ask_price=1.1, ask_qty=1.0)
    ]  # fmt: skip
    for i in range(n):
        t = start_ns + 1_000 * MS + i * 100 * MS
        price = 50_000.1 + i / 10
        events += [
            Trade(symbol="BTCUSDT", ts_event=t, ts_recv=t, trade_id=100 + i, price=price,
                  qty=0.001 * (i + 1), buyer_is_maker=i % 3 == 0),
            BookTop(symbol="BTCUSDT", ts_event=t, ts_recv=t, update_id=500 + i,
                    bid_price=price, bid_qty=1.25, ask_price=price + 0.1, ask_qty=0.5),
            BookTop(symbol="ETHUSDT", ts_event=t, ts_recv=t, update_id=900 + i,
                    bid_price=3000.01, bid_qty=2.0, ask_price=3000.02, ask_qty=3.0),
            MarkPrice(symbol="BTCUSDT", ts_event=t, ts_recv=t, mark_price=price,
                      index_price=price - 1 if i % 2 else None, funding_rate=0.0001,
                      next_funding_time=start_ns + 8 * 3600 * 1000 * MS),
            Kline(symbol="BTCUSDT", ts_event=t, ts_recv=t, interval="1m", open_time=start_ns,
                  close_time=start_ns + 59_999 * MS, open=50_000.1, high=price + 1,
                  low=49_999.0, close=price, volume=10.5, quote_volume=525_001.5, trades=7,
                  taker_buy_volume=5.25, taker_buy_quote_volume=262_500.0, closed=False),
        ]  # fmt: skip
        if i % 5 == 0:
            events.append(Liquidation(symbol="BTCUSDT", ts_event=t, ts_recv=t, side=Side.SELL,
                                      price=price, avg_price=price, qty=0.014,
                                      filled_qty=0.014, status="FILLED"))  # fmt: skip
    return events


def digest(events: Sequence[MarketEvent]) -> str:
    return hashlib.sha256(b"\n".join(e.to_json() for e in events)).hexdigest()


Serve = Callable[..., Awaitable[FakeExchange]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start fake exchanges on ephemeral ports (ManualClock unless given); stop them after."""
    started: list[FakeExchange] = []

    async def _serve(
        events: Sequence[MarketEvent] | None = None,
        *,
        clock: Any = None,
        faults: Faults | None = None,
        wall: Callable[[], float] = time.time,
        **config: Any,
    ) -> FakeExchange:
        config.setdefault("port", 0)
        ex = FakeExchange(ListSource(make_events() if events is None else events),
                          ExchangeConfig(**config), faults=faults,
                          clock=ManualClock() if clock is None else clock, wall=wall)  # fmt: skip
        await ex.start()
        started.append(ex)
        return ex

    yield _serve
    for ex in started:
        await ex.stop()


async def settle(ex: FakeExchange) -> None:
    """Wait until the replay is over and every frame left the server's queues."""
    assert ex.replayer is not None
    assert ex.control is not None
    hub = ex.control.hub
    await eventually(lambda: ex.replayer.finished.is_set(), what="replay finished")  # type: ignore[union-attr]
    await eventually(
        lambda: all(c.outbox.frames == 0 for c in hub.connections), what="queues empty"
    )


async def request(
    ws: ClientConnection, method: str, params: Any = None, req_id: int = 1
) -> tuple[list[str], dict[str, Any]]:
    """Send a control message; return (frames received before the reply, the reply)."""
    msg: dict[str, Any] = {"method": method, "id": req_id}
    if params is not None:
        msg["params"] = params
    await ws.send(json.dumps(msg))
    frames: list[str] = []
    while True:
        text = str(await asyncio.wait_for(ws.recv(), 5))
        try:
            reply = json.loads(text)
        except ValueError:
            reply = None
        if isinstance(reply, dict) and "id" in reply and ("result" in reply or "error" in reply):
            return frames, reply
        frames.append(text)


async def drain(ws: ClientConnection) -> None:
    """Read until the server closes the connection (raises ConnectionClosed)."""
    for _ in range(10_000):
        await asyncio.wait_for(ws.recv(), 5)


def expected(
    events: Sequence[MarketEvent], kinds: tuple[type, ...], symbol: str
) -> list[MarketEvent]:
    return [e for e in events if isinstance(e, kinds) and e.symbol == symbol and e.ts_event > T0]


def decoded(frames: Sequence[str]) -> list[Any]:
    return [decode_frame(f.encode(), json.loads(f).get("data", json.loads(f)).get("E", 0) * MS)
            for f in frames]  # fmt: skip


# --------------------------------------------------------------------------- streams


async def test_routed_raw_and_combined_frames_decode_to_the_same_events(serve: Serve) -> None:
    events = make_events()
    clock = ManualClock()
    ex = await serve(events, clock=clock, speed=1.0)
    market = "btcusdt@aggTrade/btcusdt@markPrice@1s/btcusdt@kline_1m/btcusdt@forceOrder"
    async with (
        connect(f"{ex.ws_url}/market/stream?streams={market}") as combined,
        connect(f"{ex.ws_url}/public/ws/btcusdt@bookTicker") as raw,
    ):
        await eventually(lambda: len(ex.control.hub.connections) == 2)  # type: ignore[union-attr]
        clock.advance(10.0)
        await settle(ex)
        market_frames, _ = await request(combined, "LIST_SUBSCRIPTIONS")
        book_frames, _ = await request(raw, "LIST_SUBSCRIPTIONS")
    assert all(json.loads(f)["stream"] for f in market_frames)
    assert all("stream" not in json.loads(f) for f in book_frames)
    market_kinds = (Trade, MarkPrice, Kline, Liquidation)
    assert digest(decoded(market_frames)) == digest(expected(events, market_kinds, "BTCUSDT"))
    assert digest(decoded(book_frames)) == digest(expected(events, (BookTop,), "BTCUSDT"))


async def test_replay_paces_by_event_time_and_speed(serve: Serve) -> None:
    clock = ManualClock()
    ex = await serve(clock=clock, speed=2.0)
    async with connect(f"{ex.ws_url}/market/ws/btcusdt@aggTrade") as ws:
        await eventually(lambda: len(ex.control.hub.connections) == 1)  # type: ignore[union-attr]
        clock.advance(0.5 + 0.05 * 4)  # event time 1.0 s .. 1.4 s at 2x
        got = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(5)]
        frames, _ = await request(ws, "LIST_SUBSCRIPTIONS")
    assert [g["a"] for g in got] == [100, 101, 102, 103, 104]
    assert frames == []  # the sixth trade (1.5 s of event time) is not due yet
    assert ex.counters.events_replayed < len(make_events())


async def test_unrouted_paths_deliver_only_public_streams(serve: Serve) -> None:
    clock = ManualClock()
    ex = await serve(clock=clock, speed=1.0)
    both = "btcusdt@aggTrade/btcusdt@bookTicker"
    async with (
        connect(f"{ex.ws_url}/stream?streams={both}") as unrouted,
        connect(f"{ex.ws_url}/public/ws/btcusdt@aggTrade") as wrong_route,
        connect(f"{ex.ws_url}/market/ws/ethusdt@bookTicker") as wrong_route2,
    ):
        await eventually(lambda: len(ex.control.hub.connections) == 3)  # type: ignore[union-attr]
        clock.advance(10.0)
        await settle(ex)
        frames, _ = await request(unrouted, "LIST_SUBSCRIPTIONS")
        silent, listed = await request(wrong_route, "LIST_SUBSCRIPTIONS")
        silent2, _ = await request(wrong_route2, "LIST_SUBSCRIPTIONS")
    assert {json.loads(f)["stream"] for f in frames} == {"btcusdt@bookTicker"}
    assert len(frames) == 20
    assert silent == []
    assert silent2 == []
    assert listed["result"] == ["btcusdt@aggTrade"]


async def test_subscribe_list_unsubscribe_over_a_socket(serve: Serve) -> None:
    clock = ManualClock()
    ex = await serve(clock=clock, speed=1.0)
    async with connect(f"{ex.ws_url}/market/ws") as ws:
        _, reply = await request(ws, "SUBSCRIBE", ["BTCUSDT@aggTrade", "btcusdt@forceOrder"], 7)
        assert reply == {"result": None, "id": 7}
        _, listed = await request(ws, "LIST_SUBSCRIPTIONS", req_id=8)
        assert listed == {"result": ["btcusdt@aggTrade", "btcusdt@forceOrder"], "id": 8}
        _, reply = await request(ws, "UNSUBSCRIBE", ["btcusdt@forceOrder"], 9)
        assert reply == {"result": None, "id": 9}
        _, reply = await request(ws, "SET_PROPERTY", ["combined", True], 10)
        assert reply == {"result": None, "id": 10}
        _, reply = await request(ws, "GET_PROPERTY", ["combined"], 11)
        assert reply == {"result": True, "id": 11}
        clock.advance(10.0)
        await settle(ex)
        frames, listed = await request(ws, "LIST_SUBSCRIPTIONS", req_id=12)
    assert listed["result"] == ["btcusdt@aggTrade"]
    assert {json.loads(f)["stream"] for f in frames} == {"btcusdt@aggTrade"}
    assert len(frames) == 20


class _Sub:
    def __init__(self) -> None:
        self.combined = False
        self.streams: list[str] = []

    def stream_list(self) -> list[str]:
        return list(self.streams)

    def add_streams(self, streams: list[str]) -> None:
        self.streams += streams

    def remove_streams(self, streams: list[str]) -> None:
        self.streams = [s for s in self.streams if s not in streams]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('{"method":"SET_PROPERTY","params":["colour",true],"id":1}', 0),
        ('{"method":"GET_PROPERTY","params":["speed"],"id":1}', 0),
        ('{"method":"SET_PROPERTY","params":["combined","yes"],"id":1}', 1),
        ('{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":"abc"}', 2),
        ('{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":-1}', 2),
        ('{"method":"SUBSCRIBEX","params":[],"id":1}', 2),
        ('{"params":["btcusdt@aggTrade"],"id":1}', 2),
        ('{"method":"SUBSCRIBE","params":["not a stream"],"id":1}', 2),
        ('{"method":"SET_PROPERTY","params":[5,true],"id":1}', 2),
        ('{"method":"GET_PROPERTY","params":["combined",1],"id":1}', 2),
        ('{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":1', 3),
        ("not json", 3),
    ],
)
def test_control_error_codes(message: str, code: int) -> None:
    sub = _Sub()
    result = handle_control(sub, message, max_streams=1024)
    assert result.error
    assert result.reply["error"]["code"] == code
    assert sub.streams == []
    assert sub.combined is False


def test_control_stream_limit_and_names() -> None:
    sub = _Sub()
    first = '{"method":"SUBSCRIBE","params":["a@aggTrade","b@aggTrade"],"id":1}'
    ok = handle_control(sub, first, max_streams=2)
    assert ok.reply == {"result": None, "id": 1}
    second = '{"method":"SUBSCRIBE","params":["c@aggTrade"],"id":2}'
    over = handle_control(sub, second, max_streams=2)
    assert over.reply["error"]["code"] == 2
    assert sub.streams == ["a@aggTrade", "b@aggTrade"]
    assert normalise_stream("BTCUSDT@kline_1m") == "btcusdt@kline_1m"
    assert normalise_stream("!markPrice@arr@1s") == "!markPrice@arr@1s"
    assert normalise_stream("btcusdt@depth5@100ms") == "btcusdt@depth5@100ms"
    assert normalise_stream("btcusdt@kline_7m") is None


async def test_error_reply_over_socket_and_too_many_streams_in_url(serve: Serve) -> None:
    ex = await serve(max_streams=2)
    async with connect(f"{ex.ws_url}/market/ws/a@aggTrade") as ws:
        _, reply = await request(ws, "SUBSCRIBE", ["b@aggTrade", "c@aggTrade"], 4)
        msg = "Invalid request: too many streams (limit 2)"
        assert reply == {"error": {"code": 2, "msg": msg}, "id": 4}
        await ws.send("{oops")
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert error["error"]["code"] == 3
        assert error["id"] is None
    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"{ex.rest_url}/market/ws/a@aggTrade/b@aggTrade/c@aggTrade")
        assert resp.status == 400


# --------------------------------------------------------------------------- limits


async def test_more_than_ten_messages_a_second_disconnects(serve: Serve) -> None:
    ex = await serve()
    async with connect(f"{ex.ws_url}/market/ws") as ws:
        for i in range(11):
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert ex.counters.rate_limit_disconnects == 1


async def test_ten_messages_a_second_are_allowed(serve: Serve) -> None:
    ex = await serve()
    async with connect(f"{ex.ws_url}/market/ws") as ws:
        for i in range(10):
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        replies = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(10)]
    assert [r["id"] for r in replies] == list(range(10))
    assert ex.counters.rate_limit_disconnects == 0


async def test_server_pings_and_a_ponging_client_stays(serve: Serve) -> None:
    ex = await serve(ping_interval_s=0.05, pong_timeout_s=0.5)
    async with connect(f"{ex.ws_url}/public/ws/btcusdt@bookTicker") as ws:
        await eventually(lambda: ex.counters.pongs_received >= 3, what="3 pongs")
        _, reply = await request(ws, "LIST_SUBSCRIPTIONS")
    assert reply["result"] == ["btcusdt@bookTicker"]
    assert ex.counters.ping_timeouts == 0


async def test_no_pong_within_the_timeout_disconnects(serve: Serve) -> None:
    ex = await serve(ping_interval_s=0.05, pong_timeout_s=0.2)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{ex.ws_url}/public/ws/btcusdt@bookTicker", autoping=False)
        kinds = []
        for _ in range(100):
            msg = await asyncio.wait_for(ws.receive(), 5)
            kinds.append(msg.type)
            if msg.type is aiohttp.WSMsgType.CLOSE:
                break
        assert kinds[0] is aiohttp.WSMsgType.PING
        assert kinds[-1] is aiohttp.WSMsgType.CLOSE
        assert msg.data == 1008
        await ws.close()
    assert ex.counters.ping_timeouts == 1


async def test_connection_is_closed_at_its_max_lifetime(serve: Serve) -> None:
    ex = await serve(max_lifetime_s=0.2)
    async with connect(f"{ex.ws_url}/public/ws/btcusdt@bookTicker") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001
    assert ex.counters.lifetime_closes == 1


# --------------------------------------------------------------------------- replay


class _RecordingClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(("speed", "expected_s"), [(1.0, 2.9), (10.0, 0.29), (None, 0.0)])
async def test_replayer_sleeps_span_over_speed(speed: float | None, expected_s: float) -> None:
    clock = _RecordingClock()
    got: list[MarketEvent] = []

    async def publish(event: MarketEvent) -> None:
        got.append(event)

    events = make_events()
    await Replayer(ListSource(events), publish, speed=speed, clock=clock).run()
    assert got == sorted(events, key=lambda e: e.ts_event)
    assert sum(clock.slept) == pytest.approx(expected_s)


async def test_loop_replays_forward_in_time_with_fresh_ids() -> None:
    got: list[MarketEvent] = []
    done = asyncio.Event()

    async def publish(event: MarketEvent) -> None:
        got.append(event)
        if len(got) == 3 * len(events):
            done.set()
            raise asyncio.CancelledError

    events = make_events(5)
    task = asyncio.create_task(Replayer(ListSource(events), publish, speed=None, loop=True).run())
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    times = [e.ts_event for e in got]
    assert times == sorted(times)
    assert times[len(events)] > times[len(events) - 1]
    trade_ids = [e.trade_id for e in got if isinstance(e, Trade)]
    assert len(set(trade_ids)) == len(trade_ids)


async def test_rebase_moves_the_first_event_into_the_current_second_keeping_gaps() -> None:
    got: list[MarketEvent] = []

    async def publish(event: MarketEvent) -> None:
        got.append(event)

    now_ns = 1_800_000_000_123_456_789
    events = make_events(3, start_ns=T0 + 250 * MS)
    await Replayer(ListSource(events), publish, speed=None, start_ns=lambda: now_ns).run()
    shift = got[0].ts_event - events[0].ts_event
    assert got[0].ts_event // NS == now_ns // NS
    assert shift % NS == 0  # marks and kline closes stay on their place in the second
    assert [e.ts_event for e in got] == [e.ts_event + shift for e in events]
    kline = next(e for e in got if isinstance(e, Kline))
    assert kline.open_time == T0 + 250 * MS + shift


async def test_each_loop_pass_moves_by_whole_seconds() -> None:
    got: list[MarketEvent] = []
    done = asyncio.Event()
    events = make_events(3, start_ns=T0 + 250 * MS)

    async def publish(event: MarketEvent) -> None:
        got.append(event)
        if len(got) == 2 * len(events):
            done.set()
            raise asyncio.CancelledError

    task = asyncio.create_task(Replayer(ListSource(events), publish, speed=None, loop=True).run())
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    second_pass = [e.ts_event for e in got[len(events) :]]
    shift = second_pass[0] - events[0].ts_event
    assert shift % NS == 0
    assert second_pass == [e.ts_event + shift for e in events]
    assert second_pass[0] > events[-1].ts_event


async def test_max_speed_waits_for_clients_and_loses_nothing(serve: Serve) -> None:
    events = make_events(200)
    ex = await serve(events, speed=None, await_clients=1)
    async with connect(f"{ex.ws_url}/market/ws/btcusdt@aggTrade") as ws:
        await settle(ex)
        frames, _ = await request(ws, "LIST_SUBSCRIPTIONS")
    assert [json.loads(f)["a"] for f in frames] == list(range(100, 300))


async def test_fast_forward_publishes_at_once_then_paces_from_where_it_ends() -> None:
    clock = _RecordingClock()
    published: list[tuple[float, int]] = []  # (clock, ts_event)
    paced_at: list[float] = []

    async def publish(event: MarketEvent) -> None:
        published.append((clock.now, event.ts_event))

    events = make_events()  # T0, then T0 + 1.0 s ... T0 + 2.9 s
    end = T0 + 1_500 * MS

    def paced() -> None:
        paced_at.append(clock.now)

    replayer = Replayer(
        ListSource(events), publish, speed=2.0, clock=clock, fast_forward_s=1.5, on_paced=paced
    )
    await replayer.run()
    assert paced_at == [0.0]
    for at, ts in published:
        assert at == pytest.approx(max(0.0, (ts - end) / 1e9 / 2.0))
    assert sum(clock.slept) == pytest.approx((2.9 - 1.5) / 2.0)


async def test_a_fast_forward_longer_than_the_replay_never_paces() -> None:
    clock = _RecordingClock()
    paced: list[bool] = []

    async def publish(event: MarketEvent) -> None:
        pass

    await Replayer(ListSource(make_events()), publish, speed=1.0, clock=clock,
                   fast_forward_s=60.0, on_paced=lambda: paced.append(True)).run()  # fmt: skip
    assert clock.slept == []
    assert paced == []


def test_a_negative_fast_forward_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="fast_forward_s"):
        ExchangeConfig(fast_forward_s=-1.0)


async def test_fast_forward_waits_for_a_slow_client_instead_of_closing_it(serve: Serve) -> None:
    # a paced replay closes a connection whose outbox is full; while it fast-forwards it
    # waits for room, as a max-speed replay does, so the client loses nothing
    events = make_events(200)
    ex = await serve(events, speed=1.0, fast_forward_s=3600.0, await_clients=1,
                     send_queue_frames=1)  # fmt: skip
    async with connect(f"{ex.ws_url}/market/ws/btcusdt@aggTrade") as ws:
        await settle(ex)
        frames, _ = await request(ws, "LIST_SUBSCRIPTIONS")
    assert [json.loads(f)["a"] for f in frames] == list(range(100, 300))
    assert ex.counters.slow_consumer_disconnects == 0


async def test_store_to_exchange_to_client_round_trip(serve: Serve, tmp_path: Path) -> None:
    from csx_core.store import EventStore

    events = make_events()
    EventStore(tmp_path).write_events(events)
    clock = ManualClock()
    ex = FakeExchange(StoreSource(tmp_path), ExchangeConfig(port=0, speed=1.0), clock=clock)
    async with ex:
        assert list(ex.source.symbols()) == ["BTCUSDT", "ETHUSDT", "WARMUSDT"]
        url = f"{ex.ws_url}/market/stream?streams=btcusdt@aggTrade/btcusdt@kline_1m"
        async with connect(url) as ws:
            await eventually(lambda: len(ex.control.hub.connections) == 1)  # type: ignore[union-attr]
            clock.advance(10.0)
            await settle(ex)
            frames, _ = await request(ws, "LIST_SUBSCRIPTIONS")
    stored = list(EventStore(tmp_path).iter_events())
    want = expected(stored, (Trade, Kline), "BTCUSDT")
    assert len(want) > 20
    assert digest(decoded(frames)) == digest(want)


async def test_stop_closes_clients_with_going_away() -> None:
    ex = FakeExchange(ListSource(make_events()), ExchangeConfig(port=0), clock=ManualClock())
    await ex.start()
    async with connect(f"{ex.ws_url}/public/ws/btcusdt@bookTicker") as ws:
        await eventually(lambda: len(ex.control.hub.connections) == 1)  # type: ignore[union-attr]
        await asyncio.wait_for(ex.stop(), 5)
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001


@pytest.mark.parametrize(
    "argv",
    [["--malformed-rate", "2"], ["--ping-interval-s", "0"], ["--store", "/nonexistent/store"]],
)
def test_csx_exchange_rejects_bad_settings(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from csx_core.cli import main

    assert main(["exchange", "--port", "0", *argv]) == 2
    assert "csx exchange:" in capsys.readouterr().out


@pytest.mark.slow
def test_csx_exchange_serves_until_sigterm(tmp_path: Path) -> None:
    from csx_core.store import EventStore

    EventStore(tmp_path).write_events(make_events())
    stored = sum(1 for _ in EventStore(tmp_path).iter_events())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "csx_core.cli", "exchange", "--store", str(tmp_path), "--port", "0",
         "--speed", "max"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())["ready"]

        async def fetch() -> dict[str, Any]:
            async with aiohttp.ClientSession() as http:
                resp = await http.get(f"{ready['rest']}/fapi/v1/exchangeInfo")
                return await resp.json()  # type: ignore[no-any-return]

        async def replayed() -> bool:
            async with aiohttp.ClientSession() as http:
                resp = await http.get(f"{ready['rest']}/_admin/stats")
                return bool((await resp.json())["replay"]["finished"])

        info = asyncio.run(fetch())
        assert "BTCUSDT" in {s["symbol"] for s in info["symbols"]}
        asyncio.run(eventually(replayed, what="replay finished"))
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert json.loads(out.strip().splitlines()[-1])["stopped"]["events_replayed"] == stored


async def test_the_paced_part_starts_once_the_fast_forward_is_drained() -> None:
    # at the end of the fast-forward the clients' outboxes are full (it waits for room):
    # pacing from the first paced frame would meet a full outbox and close the client
    clock = _RecordingClock()
    published: list[tuple[float, int]] = []
    order: list[str] = []

    async def publish(event: MarketEvent) -> None:
        published.append((clock.now, event.ts_event))

    async def drained() -> None:
        order.append(f"drained after {len(published)} events")
        clock.now += 4.0  # the clients take 4 s to read their backlog

    events = make_events()  # T0, then T0 + 1.0 s ... T0 + 2.9 s
    end = T0 + 1_500 * MS
    fast = sum(e.ts_event < end for e in events)
    await Replayer(
        ListSource(events), publish, speed=2.0, clock=clock, fast_forward_s=1.5,
        on_paced=lambda: order.append("paced"), drained=drained,
    ).run()  # fmt: skip
    assert order == [f"drained after {fast} events", "paced"]
    for at, ts in published[fast:]:
        assert at == pytest.approx(4.0 + (ts - end) / 1e9 / 2.0)
