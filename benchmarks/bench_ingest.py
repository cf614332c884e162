"""Sustained WS ingest over loopback: receive → decode → bounded queue (→ features), per client.

A separate server process writes pre-framed Binance combined-stream text frames (aggTrade and
bookTicker, 40 symbols) as fast as the socket takes them, so the server costs next to nothing
and the client (this process, one core) is what is measured. Clients:

- ``aiohttp`` (``decode_text=False``: frames stay bytes) and ``websockets`` (``decode=False``),
  both decoding with the project decoder (``csx_core.wire.FrameDecoder`` when present, else a
  msgspec tagged-union decoder of the same shape) into a :class:`DropOldestQueue`;
- ``aiohttp`` as above plus the consumer applying every event to the FeatureEngine (the
  issue's "→ feature update" path, feature ticks on event time, no scorer);
- the reference written the plain way: ``websockets`` text frames, ``json.loads`` and dict
  walking into the same contract objects.

Each client runs under the default asyncio loop and under uvloop (when installed).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import multiprocessing
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from benchmarks.harness import Measurement, report
from csx_core.contracts import BookTop, MarketEvent, Trade
from csx_live.queue import DropOldestQueue

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SYMBOLS = [f"SYM{i:02d}USDT" for i in range(40)]


def _frames(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        sym = SYMBOLS[i % len(SYMBOLS)]
        ms = 1_700_000_000_000 + i
        if i % 2:
            data: dict[str, Any] = {
                "e": "aggTrade", "E": ms, "a": i, "s": sym, "p": f"{100 + i % 50}.25",
                "q": "0.013", "f": i, "l": i, "T": ms, "m": bool(i % 3),
            }  # fmt: skip
            stream = f"{sym.lower()}@aggTrade"
        else:
            data = {
                "e": "bookTicker", "u": i, "E": ms, "T": ms, "s": sym, "b": f"{100 + i % 50}.10",
                "B": "3.5", "a": f"{100 + i % 50}.20", "A": "1.25",
            }  # fmt: skip
            stream = f"{sym.lower()}@bookTicker"
        out.append(json.dumps({"stream": stream, "data": data}, separators=(",", ":")).encode())
    return out


def _ws_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 65536:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + payload


def _serve(port_out: Any, frames: int) -> None:
    """Accept connections; to each, answer the upgrade and write ``frames`` frames, close."""
    blob = b"".join(_ws_frame(f) for f in _frames(4096))
    per_blob = 4096
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port_out.send(listener.getsockname()[1])
    while True:
        conn, _ = listener.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                break
            request += chunk
        if request.startswith(b"QUIT"):
            conn.close()
            return
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())  # noqa: S324
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        for _ in range(frames // per_blob):
            conn.sendall(blob)
        conn.sendall(b"\x88\x02\x03\xe8")  # close 1000
        with contextlib.suppress(OSError):
            conn.recv(64)
        conn.close()


class _Wire(msgspec.Struct):
    e: str
    E: int
    s: str
    T: int = 0
    a: Any = None
    p: str = ""
    q: str = ""
    m: bool = False
    u: int = 0
    b: str = ""
    B: str = ""
    A: str = ""


class _Combined(msgspec.Struct):
    stream: str
    data: _Wire


def _fallback_decoder() -> Callable[[bytes, int], Sequence[MarketEvent]]:
    dec = msgspec.json.Decoder(_Combined)

    def decode(frame: bytes, recv_ns: int) -> list[MarketEvent]:
        d = dec.decode(frame).data
        if d.e == "aggTrade":
            return [
                Trade(
                    symbol=d.s, ts_event=d.T * 1_000_000, ts_recv=recv_ns, trade_id=d.a,
                    price=float(d.p), qty=float(d.q), buyer_is_maker=d.m,
                )
            ]  # fmt: skip
        return [
            BookTop(
                symbol=d.s, ts_event=d.E * 1_000_000, ts_recv=recv_ns, update_id=d.u,
                bid_price=float(d.b), bid_qty=float(d.B), ask_price=float(d.a),
                ask_qty=float(d.A),
            )
        ]  # fmt: skip

    return decode


def _project_decoder() -> tuple[str, Callable[[bytes, int], Sequence[MarketEvent]]]:
    """The runner's decode path (``csx_live.app.default_decoder``) when csx_core.wire exists."""
    from csx_live.app import DecoderUnavailableError, default_decoder

    try:
        decode = default_decoder()
    except DecoderUnavailableError:
        return "msgspec fallback", _fallback_decoder()
    return "csx_core.wire.FrameDecoder via csx_live.app.default_decoder", decode


def _reference_decode(text: str | bytes, recv_ns: int) -> list[MarketEvent]:
    d = json.loads(text)["data"]
    if d["e"] == "aggTrade":
        return [
            Trade(
                symbol=d["s"], ts_event=d["T"] * 1_000_000, ts_recv=recv_ns, trade_id=d["a"],
                price=float(d["p"]), qty=float(d["q"]), buyer_is_maker=d["m"],
            )
        ]  # fmt: skip
    return [
        BookTop(
            symbol=d["s"], ts_event=d["E"] * 1_000_000, ts_recv=recv_ns, update_id=d["u"],
            bid_price=float(d["b"]), bid_qty=float(d["B"]), ask_price=float(d["a"]),
            ask_qty=float(d["A"]),
        )
    ]  # fmt: skip


Client = Callable[
    [str, Callable[[Any, int], Sequence[MarketEvent]], DropOldestQueue[Any]], Awaitable[int]
]


async def _aiohttp_client(
    url: str,
    decode: Callable[[Any, int], Sequence[MarketEvent]],
    q: DropOldestQueue[Any],
    *,
    consume: Callable[[list[Any]], None] | None = None,
) -> int:
    import aiohttp

    n = 0
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, decode_text=False, autoclose=True, max_msg_size=1 << 20) as ws,
    ):
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            q.put_many(decode(msg.data, time.time_ns()))
            n += 1
            if len(q) > 4096:
                batch = q.get_nowait_batch(len(q))
                if consume is not None:
                    consume(batch)
    return n


async def _aiohttp_engine_client(
    url: str, decode: Callable[[Any, int], Sequence[MarketEvent]], q: DropOldestQueue[Any]
) -> int:
    """The live path up to features: the consumer applies every event to the FeatureEngine
    through ``Runner.process`` (event-time ticks of features; no scorer)."""
    from csx_core.features import EngineConfig, FeatureEngine
    from csx_live.runner import Runner
    from csx_live.state import LiveState

    runner = Runner(state=LiveState(), queue=q, decode=decode, engine=FeatureEngine(EngineConfig()))
    n = await _aiohttp_client(url, decode, q, consume=runner.process)
    runner.process(q.get_nowait_batch(len(q)))
    return n


async def _websockets_client(
    url: str,
    decode: Callable[[Any, int], Sequence[MarketEvent]],
    q: DropOldestQueue[Any],
    *,
    raw: bool = True,
) -> int:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    n = 0
    async with connect(url, compression=None, max_size=1 << 20, max_queue=None) as ws:
        try:
            while True:
                data = await ws.recv(decode=not raw)
                q.put_many(decode(data, time.time_ns()))
                n += 1
                if len(q) > 4096:
                    q.get_nowait_batch(len(q))
        except ConnectionClosed:
            pass
    return n


async def _reference_client(
    url: str, decode: Callable[[Any, int], Sequence[MarketEvent]], q: DropOldestQueue[Any]
) -> int:
    return await _websockets_client(url, decode, q, raw=False)


def _run_client(
    client: Client, url: str, decode: Callable[[Any, int], Sequence[MarketEvent]], use_uvloop: bool
) -> float:
    async def main() -> tuple[int, float]:
        q: DropOldestQueue[Any] = DropOldestQueue(1 << 20)
        start = time.perf_counter()
        n = await client(url, decode, q)
        return n, time.perf_counter() - start

    if use_uvloop:
        import uvloop

        n, seconds = uvloop.run(main())
    else:
        n, seconds = asyncio.run(main())
    return seconds if n else float("inf")


def run(*, quick: bool) -> None:
    frames = 4096 * (25 if quick else 100)
    reps = 2 if quick else 3
    recv_end, send_end = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=_serve, args=(send_end, frames), daemon=True)
    server.start()
    port = recv_end.recv()
    url = f"ws://127.0.0.1:{port}/market/stream?streams=x"
    name, decode = _project_decoder()
    print(f"  decoder: {name}; {frames:,} frames per run, {reps} runs; server in its own process")
    loops = [False]
    try:
        import uvloop  # noqa: F401

        loops.append(True)
    except ImportError:
        print("  uvloop not installed: default loop only")
    clients: list[tuple[str, Client, Callable[[Any, int], Sequence[MarketEvent]]]] = [
        ("aiohttp bytes + decoder", _aiohttp_client, decode),
        ("aiohttp + decoder + FeatureEngine", _aiohttp_engine_client, decode),
        ("websockets bytes + decoder", _websockets_client, decode),
        ("websockets + json + dicts (reference)", _reference_client, _reference_decode),
    ]
    try:
        # Interleaved: every repetition runs every client once, so load changes on this
        # shared machine hit all of them alike.
        seconds: dict[str, list[float]] = {}
        for _ in range(reps):
            for use_uvloop in loops:
                for label, client, dec in clients:
                    key = f"{label}{' [uvloop]' if use_uvloop else ''}"
                    seconds.setdefault(key, []).append(_run_client(client, url, dec, use_uvloop))
        results = {key: Measurement(key, frames, secs) for key, secs in seconds.items()}
        suffixes = [" [uvloop]"] if len(loops) > 1 else []
        for suffix in ["", *suffixes]:
            ref = results[f"websockets + json + dicts (reference){suffix}"]
            for label, _, _ in clients[:3]:
                report(
                    f"ingest{suffix or ' [asyncio]'}: {label}",
                    results[label + suffix],
                    ref,
                    "frames",
                )
    finally:
        with socket.create_connection(("127.0.0.1", port)) as quit_conn:
            quit_conn.sendall(b"QUIT\r\n\r\n")
        server.join(timeout=5)
    _tick_latency(quick=quick)


def _tick_latency(*, quick: bool) -> None:
    """Runner.tick (engine + scorer + ranker + alerter + state) at 500 symbols, and RSS."""
    import os
    import random
    import tempfile
    from pathlib import Path

    import numpy as np

    from benchmarks.harness import report_latency
    from csx_core.features import FEATURE_NAMES, EngineConfig, FeatureEngine
    from csx_core.ml.baseline import BaselineScorer
    from csx_core.ml.calibration import Calibrator
    from csx_core.ml.package import load_package
    from csx_core.ml.scorer import Scorer
    from csx_core.ranking.alerts import AlertConfig, Alerter
    from csx_core.ranking.ranker import Ranker, RankerConfig
    from csx_core.ranking.tick import TickPipeline
    from csx_live.metrics import rss_bytes
    from csx_live.runner import Runner, RunnerConfig
    from csx_live.sinks import JsonlSink
    from csx_live.state import LiveState

    n_symbols, warm_s, ticks = 500, 90 if quick else 400, 30 if quick else 120
    package = os.environ.get("CSX_BENCH_PACKAGE", "")
    scorer: Scorer
    if package:
        scorer = load_package(Path(package))
    else:
        scorer = BaselineScorer(
            names=FEATURE_NAMES,
            calibrator=Calibrator("platt", a=1.0, b=-2.0),
            term_means=np.zeros(3),
        )
    rng = random.Random(7)
    symbols = [f"S{i:03d}USDT" for i in range(n_symbols)]
    t0 = 1_700_000_000_000_000_000
    with tempfile.TemporaryDirectory() as tmp:
        sink = JsonlSink(Path(tmp))
        state = LiveState()
        runner = Runner(
            state=state,
            queue=DropOldestQueue(1),
            decode=lambda f, t: (),
            engine=FeatureEngine(EngineConfig()),
            pipeline=TickPipeline(
                scorer, Ranker(RankerConfig(k=20)), Alerter(AlertConfig(threshold=0.9))
            ),
            sink=sink,
            config=RunnerConfig(top_k=20),
        )
        n = 0
        px = {s: 10.0 + i for i, s in enumerate(symbols)}

        def second(sec: int) -> list[MarketEvent]:
            nonlocal n
            out: list[MarketEvent] = []
            for s in symbols:
                px[s] *= 1 + rng.gauss(0, 0.0005)
                ts = t0 + sec * 1_000_000_000 + rng.randrange(1_000_000_000)
                n += 1
                p = px[s]
                out.append(BookTop(symbol=s, ts_event=ts, ts_recv=ts, update_id=n,
                                   bid_price=p * 0.9999, bid_qty=1.0, ask_price=p * 1.0001,
                                   ask_qty=1.0))  # fmt: skip
                out.append(Trade(symbol=s, ts_event=ts + 1, ts_recv=ts + 1, trade_id=n,
                                 price=p, qty=rng.uniform(0.1, 3),
                                 buyer_is_maker=rng.random() < 0.5))  # fmt: skip
            out.sort(key=lambda e: e.ts_event)
            return out

        for sec in range(warm_s):
            runner.process(second(sec))
        durations = []
        for sec in range(warm_s, warm_s + ticks):
            events = second(sec)
            before = state.counters.ticks
            runner.process(events)
            if state.counters.ticks > before:
                durations.append(state.last_tick_duration_s * 1e6)
        sink.close()
    durations.sort()
    print(f"\n## tick at {n_symbols} symbols ({scorer.model_id}, {warm_s} s warm-up)")
    report_latency(
        f"Runner.tick over {len(durations)} ticks",
        {
            "p50_us": durations[len(durations) // 2],
            "p99_us": durations[min(len(durations) - 1, int(len(durations) * 0.99))],
            "max_us": durations[-1],
        },
    )
    print(f"  scored symbols {state.scored_symbols}; process RSS {rss_bytes() / 2**20:.0f} MB")
