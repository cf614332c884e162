"""Contract JSON decode: typed msgspec decoding vs stdlib json + dict → constructor."""

from __future__ import annotations

import json

import msgspec

from benchmarks.harness import latency_percentiles, measure, report, report_latency
from csx_core.contracts import BookTop, MarketEvent, Trade


def _payloads(n: int) -> list[bytes]:
    out: list[bytes] = []
    for i in range(n):
        if i % 2:
            ev: MarketEvent = Trade(
                symbol="BTCUSDT",
                ts_event=i,
                ts_recv=i,
                trade_id=i,
                price=65000.0 + i % 100,
                qty=0.001 * (1 + i % 7),
                buyer_is_maker=bool(i % 3),
            )
        else:
            ev = BookTop(
                symbol="ETHUSDT",
                ts_event=i,
                ts_recv=i,
                update_id=i,
                bid_price=3000.0,
                bid_qty=1.0,
                ask_price=3000.1,
                ask_qty=2.0,
            )
        out.append(ev.to_json())
    return out


def run(*, quick: bool) -> None:
    payloads = _payloads(20_000 if quick else 200_000)
    decoder = msgspec.json.Decoder(MarketEvent)
    kinds = {"trade": Trade, "book_top": BookTop}

    def typed() -> None:
        for p in payloads:
            decoder.decode(p)

    def reference() -> None:
        for p in payloads:
            d = json.loads(p)
            kinds[d.pop("kind")](**d)

    subject = measure("msgspec typed decode", typed, items=len(payloads))
    ref = measure("json.loads + constructor (reference)", reference, items=len(payloads))
    report("MarketEvent JSON decode", subject, ref, "events")
    one = payloads[1]
    report_latency(
        "typed decode, one event", latency_percentiles(lambda: decoder.decode(one), calls=20_000)
    )
