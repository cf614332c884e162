"""WebSocket side: connections, the subscription hub that fans replayed events out, and the
handler that enforces Binance's limits (10 incoming messages/s, ≤ max streams, server pings
with a pong deadline, a maximum connection life).

Routing: a connection on ``/public`` receives only public streams (bookTicker, depth), one on
``/market`` only market streams; the unrouted ``/ws`` and ``/stream`` behave like
``/public``. A subscription to a stream the route does not serve is accepted and listed but
stays silent, as on the real exchange.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
from collections import deque
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from csx_core.contracts import MarketEvent
from csx_live.exchange.control import handle_control, normalise_stream
from csx_live.exchange.encode import combined_frame, encode_payload, route_of, stream_names
from csx_live.exchange.outbox import Outbox, run_writer
from csx_live.exchange.state import STATE_KEY, ExchangeState

log = logging.getLogger(__name__)
_ids = itertools.count(1)


@dataclass(eq=False)
class Connection:
    """One client WebSocket. ``route`` is ``public``, ``market`` or None (unrouted)."""

    ws: web.WebSocketResponse
    route: str | None
    combined: bool
    opened_at: float
    outbox: Outbox
    hub: Hub
    transport: asyncio.WriteTransport
    id: int = field(default_factory=lambda: next(_ids))
    streams: dict[str, None] = field(default_factory=dict)
    incoming: deque[float] = field(default_factory=deque)
    pong: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    close_reason: str = ""

    def delivers(self, stream: str) -> bool:
        return route_of(stream) == (self.route or "public")

    def stream_list(self) -> list[str]:
        return list(self.streams)

    def add_streams(self, streams: list[str]) -> None:
        for s in streams:
            self.streams[s] = None
            if self.delivers(s):
                self.hub.subs.setdefault(s, set()).add(self)
        self.hub.subscribed.set()

    def remove_streams(self, streams: list[str]) -> None:
        for s in streams:
            self.streams.pop(s, None)
            subs = self.hub.subs.get(s)
            if subs is not None:
                subs.discard(self)
                if not subs:
                    del self.hub.subs[s]


class Hub:
    """Stream name → delivering connections; ``publish`` encodes an event once and queues
    it to every subscriber, applying the frame faults (stall, malformed, oversized)."""

    def __init__(self, state: ExchangeState) -> None:
        self.state = state
        self.subs: dict[str, set[Connection]] = {}
        self.connections: set[Connection] = set()
        self._oversized: bytes = b""
        self.subscribed = asyncio.Event()
        self._closing: set[asyncio.Task[None]] = set()
        self._names: dict[tuple[type, str, str], tuple[str, ...]] = {}
        self._loop = asyncio.get_running_loop()

    def listeners(self) -> int:
        """Connections with at least one stream they deliver."""
        return len({c for conns in self.subs.values() for c in conns})

    async def wait_for_listeners(self, n: int) -> None:
        """Return once ``n`` connections listen."""
        while self.listeners() < n:
            self.subscribed.clear()
            await self.subscribed.wait()

    async def wait_drained(self) -> None:
        """Return once no connection has a frame waiting in its outbox."""
        for conn in list(self.connections):
            await conn.outbox.wait_empty()

    def _oversized_frame(self) -> bytes:
        size = self.state.faults.oversized_bytes
        if len(self._oversized) != size:
            head, tail = b'{"e":"aggTrade","pad":"', b'"}'
            self._oversized = head + b"x" * max(0, size - len(head) - len(tail)) + tail
        return self._oversized

    async def publish(self, event: MarketEvent) -> None:
        state = self.state
        state.counters.events_replayed += 1
        state.market.on_event(event)
        key = (type(event), event.symbol, getattr(event, "interval", ""))
        names = self._names.get(key)
        if names is None:
            names = self._names[key] = stream_names(event)
        subs = self.subs
        targets = [(n, c) for n in names if n in subs for c in subs[n]]
        if not targets:
            return
        if state.stall_until and self._loop.time() < state.stall_until:
            state.counters.frames_stalled += len(targets)
            return
        payload = encode_payload(event)
        faults, rng, block = state.faults, state.rng, state.unpaced
        for name, conn in targets:
            if conn.closed:
                continue
            frame = combined_frame(name, payload) if conn.combined else payload
            # a bad frame counts as injected when it is queued or refused, never while the
            # replay waits for space, so the exchange's ledger balances at every moment
            if faults.malformed_rate and rng.random() < faults.malformed_rate:
                if block:
                    await conn.outbox.wait_for_space()
                state.counters.malformed_injected += 1
                await self._offer(conn, frame[: max(1, len(frame) // 2)], block, bad=True)
            if faults.oversized_rate and rng.random() < faults.oversized_rate:
                if block:
                    await conn.outbox.wait_for_space()
                state.counters.oversized_injected += 1
                await self._offer(conn, self._oversized_frame(), block, bad=True)
            await self._offer(conn, frame, block)

    async def _offer(
        self, conn: Connection, frame: bytes, block: bool, *, bad: bool = False
    ) -> None:
        if block:
            await conn.outbox.put_waiting(frame, bad=bad)
        elif conn.closed:
            conn.outbox.refuse(bad=bad)
        elif conn.outbox.full():
            conn.outbox.refuse(bad=bad)
            self.state.counters.slow_consumer_disconnects += 1
            _detach(conn)
            task = asyncio.create_task(close(conn, WSCloseCode.POLICY_VIOLATION, "slow consumer"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        else:
            conn.outbox.put(frame, bad=bad)

    async def close_all(self, timeout_s: float = 2.0) -> None:
        """Close every connection with 1001 (shutdown); cut those that do not finish."""
        conns = list(self.connections)
        closing = [
            asyncio.wait_for(close(c, WSCloseCode.GOING_AWAY, "shutdown"), timeout_s) for c in conns
        ]
        await asyncio.gather(*closing, return_exceptions=True)
        for conn in conns:
            if not conn.transport.is_closing():
                _cut(conn)

    async def drop_all(self) -> tuple[int, int]:
        """Cut every connection without a close frame (like a network failure); returns
        (connections, streams they carried)."""
        conns = list(self.connections)
        streams = sum(len(c.streams) for c in conns)
        for conn in conns:
            conn.close_reason = "dropped"
            _cut(conn)
        return len(conns), streams


def _cut(conn: Connection) -> None:
    """Abort the socket like a network failure; bad frames still in the transport's buffer
    are counted as discarded first (the abort throws the buffer away)."""
    conn.outbox.cut(conn.transport.get_write_buffer_size())
    _detach(conn)
    conn.transport.abort()


def _detach(conn: Connection) -> None:
    if conn.closed:
        return
    conn.closed = True
    conn.remove_streams(list(conn.streams))
    conn.hub.connections.discard(conn)
    conn.outbox.close()


async def close(conn: Connection, code: int, reason: str) -> None:
    """Close with a close frame (limits, lifetime); idempotent."""
    if not conn.close_reason:
        conn.close_reason = reason
    _detach(conn)
    await conn.ws.close(code=code, message=reason.encode()[:120])


def parse_target(request: web.Request) -> tuple[str | None, bool, list[str]] | None:
    """(route, combined, initial streams) from the URL, or None for an invalid stream."""
    first = request.path.split("/", 2)[1]
    route = first if first in ("public", "market") else None
    if request.match_info.get("kind") == "stream":
        raw = request.query.get("streams", "")
        combined = True
    else:
        raw = request.match_info.get("streams", "")
        combined = False
    names = [normalise_stream(s) for s in raw.split("/") if s]
    if any(n is None for n in names):
        return None
    return route, combined, list(dict.fromkeys(n for n in names if n is not None))


async def handle_ws(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    hub = request.app[HUB_KEY]
    target = parse_target(request)
    if target is None:
        raise web.HTTPBadRequest(text='{"code":2,"msg":"Invalid request: invalid stream"}')
    route, combined, streams = target
    if len(streams) > state.config.max_streams:
        raise web.HTTPBadRequest(text='{"code":2,"msg":"Invalid request: too many streams"}')
    ws = web.WebSocketResponse(timeout=2.0, autoping=False, max_msg_size=1 << 20, compress=False)
    await ws.prepare(request)
    transport = request.transport
    if not isinstance(transport, asyncio.WriteTransport):
        raise web.HTTPServiceUnavailable(text="connection lost during the handshake")
    limit_send_buffer(transport, state.config.socket_send_buffer_bytes)
    loop = asyncio.get_running_loop()
    conn = Connection(ws=ws, route=route, combined=combined, opened_at=loop.time(),
                      outbox=Outbox(state.config.send_queue_frames, state.counters), hub=hub,
                      transport=transport)  # fmt: skip
    hub.connections.add(conn)
    conn.add_streams(streams)
    state.counters.connections_opened += 1
    tasks = [asyncio.create_task(f(conn, state)) for f in (_writer, _pinger, _lifetime)]
    try:
        await _reader(conn, state)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        _detach(conn)
        state.counters.connections_closed += 1
    return ws


def limit_send_buffer(transport: asyncio.BaseTransport, size: int) -> None:
    """Cap the kernel send buffer of ``transport``'s socket (``SO_SNDBUF``; 0 = leave the
    OS default), so the bytes between the outbox and the client stay bounded."""
    sock = transport.get_extra_info("socket")
    if size and sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


async def _reader(conn: Connection, state: ExchangeState) -> None:
    loop, cfg, counters = asyncio.get_running_loop(), state.config, state.counters
    async for msg in conn.ws:
        now = loop.time()
        conn.incoming.append(now)
        while conn.incoming and conn.incoming[0] <= now - 1.0:
            conn.incoming.popleft()
        if len(conn.incoming) > cfg.max_incoming_per_s:
            counters.rate_limit_disconnects += 1
            await close(conn, WSCloseCode.POLICY_VIOLATION, "Too many requests")
            return
        if msg.type is WSMsgType.PING:
            await conn.ws.pong(msg.data)
        elif msg.type is WSMsgType.PONG:
            counters.pongs_received += 1
            conn.pong.set()
        elif msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            result = handle_control(conn, msg.data, max_streams=cfg.max_streams)
            counters.control_errors += result.error
            await conn.ws.send_str(json.dumps(result.reply, separators=(",", ":")))


async def _writer(conn: Connection, state: ExchangeState) -> None:
    loop = asyncio.get_running_loop()

    def stall_left_s() -> float:
        return state.stall_until - loop.time() if state.stall_until else 0.0

    await run_writer(
        conn.outbox, conn.ws, conn.transport, state.faults, state.counters, stall_left_s
    )


async def _pinger(conn: Connection, state: ExchangeState) -> None:
    cfg = state.config
    while True:
        await asyncio.sleep(cfg.ping_interval_s)
        conn.pong.clear()
        await conn.ws.ping(b"csx")
        state.counters.pings_sent += 1
        try:
            await asyncio.wait_for(conn.pong.wait(), cfg.pong_timeout_s)
        except TimeoutError:
            state.counters.ping_timeouts += 1
            await close(conn, WSCloseCode.POLICY_VIOLATION, "pong timeout")
            return


async def _lifetime(conn: Connection, state: ExchangeState) -> None:
    loop = asyncio.get_running_loop()
    while True:
        remaining = conn.opened_at + state.lifetime_s() - loop.time()
        if remaining <= 0:
            state.counters.lifetime_closes += 1
            await close(conn, WSCloseCode.GOING_AWAY, "max connection lifetime")
            return
        await asyncio.sleep(min(remaining, 0.5))


HUB_KEY = web.AppKey("csx_exchange_hub", Hub)
