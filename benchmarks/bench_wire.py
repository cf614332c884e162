"""Binance frame decode: csx_core.wire (typed msgspec + validated contracts) vs stdlib
``json.loads`` + dict walk + the same contract constructors (the reference).

The input is the live-like mix of combined aggTrade and bookTicker frames, half each.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from benchmarks.harness import latency_percentiles, measure, report, report_latency
from csx_core.contracts import BookTop, MarketEvent, Trade
from csx_core.wire import FrameDecoder, encode_combined
from csx_core.wire.messages import CombinedMsg


def _frames(n: int) -> list[bytes]:
    out: list[bytes] = []
    for i in range(n):
        ts = (1_723_161_256_000 + i) * 1_000_000
        if i % 2:
            event: MarketEvent = Trade(
                symbol="BTCUSDT",
                ts_event=ts,
                ts_recv=ts,
                trade_id=5_266_583_935 + i,
                price=61800.0 + (i % 100) / 10,
                qty=0.001 * (1 + i % 7),
                buyer_is_maker=bool(i % 3),
            )
        else:
            event = BookTop(
                symbol="ETHUSDT",
                ts_event=ts,
                ts_recv=ts,
                update_id=5_123_107_839_020 + i,
                bid_price=2600.0 + (i % 50) / 100,
                bid_qty=2.507,
                ask_price=2600.01 + (i % 50) / 100,
                ask_qty=2.51,
            )
        out.append(encode_combined(event))
    return out


def reference_decode(frame: bytes, ts_recv: int) -> MarketEvent | None:
    """What a straightforward implementation does: json.loads and walk the dict."""
    data: dict[str, Any] = json.loads(frame)["data"]
    kind = data["e"]
    if kind == "aggTrade":
        return Trade(
            symbol=data["s"],
            ts_event=data["E"] * 1_000_000,
            ts_recv=ts_recv,
            trade_id=data["a"],
            price=float(data["p"]),
            qty=float(data["q"]),
            buyer_is_maker=data["m"],
        )
    if kind == "bookTicker":
        return BookTop(
            symbol=data["s"],
            ts_event=data["E"] * 1_000_000,
            ts_recv=ts_recv,
            update_id=data["u"],
            bid_price=float(data["b"]),
            bid_qty=float(data["B"]),
            ask_price=float(data["a"]),
            ask_qty=float(data["A"]),
        )
    return None


def run(*, quick: bool) -> None:
    frames = _frames(20_000 if quick else 200_000)
    decoder = FrameDecoder()
    decode = decoder.decode

    def subject() -> None:
        for f in frames:
            decode(f, 1)

    def reference() -> None:
        for f in frames:
            reference_decode(f, 1)

    assert decode(frames[0], 1) == reference_decode(frames[0], 1)
    assert decode(frames[1], 1) == reference_decode(frames[1], 1)
    sub = measure("csx_core.wire FrameDecoder", subject, items=len(frames))
    ref = measure("json.loads + dict walk (reference)", reference, items=len(frames))
    report("Binance combined frames (aggTrade/bookTicker mix) -> contracts", sub, ref, "frames")
    assert decoder.total_errors == 0

    wire_only = msgspec.json.Decoder(CombinedMsg).decode
    events = [decode(f, 1) for f in frames]
    kwargs = [(type(e), msgspec.structs.asdict(e)) for e in events]

    def wire_structs() -> None:
        for f in frames:
            wire_only(f)

    def contracts() -> None:
        for cls, kw in kwargs:
            cls(**kw)

    print("  where the time goes (same frames):")
    for name, fn in (
        ("msgspec wire-struct decode only", wire_structs),
        ("contract construction only (validated)", contracts),
    ):
        m = measure(name, fn, items=len(frames))
        print(
            f"    {name:<40} median {m.median_throughput:>12,.0f} /s"
            f"   best {m.best_throughput:>12,.0f} /s"
        )
    calls = 20_000 if quick else 100_000
    for name, frame in (("aggTrade", frames[1]), ("bookTicker", frames[0])):
        report_latency(
            f"FrameDecoder, one {name} frame",
            latency_percentiles(lambda frame=frame: decode(frame, 1), calls=calls),  # type: ignore[misc]
        )
        report_latency(
            f"reference, one {name} frame",
            latency_percentiles(lambda frame=frame: reference_decode(frame, 1), calls=calls),  # type: ignore[misc]
        )
