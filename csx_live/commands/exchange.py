"""``csx exchange``: serve a fake Binance USD-M exchange replaying the event store.

Prints one JSON line with the bound URLs when ready (scripts read the port from it), runs
until SIGINT/SIGTERM, then closes every connection and prints the counters as JSON.
Fault switches given here are the starting values; ``POST /_admin/faults`` changes them.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from csx_core.cli import Command

if TYPE_CHECKING:
    from csx_live.exchange import EventSource, ExchangeConfig, Faults


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("speed must be > 0 or 'max'")
    return value


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=Path("data/events"), help="event store root")
    parser.add_argument("--speed", type=_speed, default=1.0, help="replay speed factor or 'max'")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    parser.add_argument("--start", type=date.fromisoformat, help="first UTC day (YYYY-MM-DD)")
    parser.add_argument("--end", type=date.fromisoformat, help="last UTC day (inclusive)")
    parser.add_argument("--symbols", help="comma-separated symbols (default: all in the store)")
    parser.add_argument("--loop", action="store_true", help="restart the replay at the end")
    parser.add_argument(
        "--rebase-time", action="store_true",
        help="shift event times so the replay starts at the current wall-clock time",
    )  # fmt: skip
    parser.add_argument(
        "--fast-forward-s", type=float, default=0.0,
        help="replay the first N s of event time as fast as clients read, then at --speed",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault dice")
    parser.add_argument(
        "--await-clients", type=int, default=0,
        help="start the replay once N connections have subscribed (0: at once)",
    )  # fmt: skip
    limits = parser.add_argument_group("limits")
    limits.add_argument("--ping-interval-s", type=float, default=180.0)
    limits.add_argument("--pong-timeout-s", type=float, default=600.0)
    limits.add_argument("--max-lifetime-s", type=float, default=86_400.0)
    limits.add_argument("--max-streams", type=int, default=1024)
    limits.add_argument("--weight-limit", type=int, default=2400, help="REST weight per minute")
    limits.add_argument("--ban-s", type=float, default=120.0, help="418 ban after ignoring 429")
    faults = parser.add_argument_group("faults (also settable at run time: POST /_admin/faults)")
    faults.add_argument("--drop-every-s", type=float, help="cut every connection every N s")
    faults.add_argument("--malformed-rate", type=float, default=0.0)
    faults.add_argument("--oversized-rate", type=float, default=0.0)
    faults.add_argument("--oversized-bytes", type=int, default=2_000_000)
    faults.add_argument("--slow-send-s", type=float, default=0.0, help="delay before each frame")
    faults.add_argument("--rest-5xx-rate", type=float, default=0.0)
    faults.add_argument("--no-admin", action="store_true", help="disable the /_admin endpoints")


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from csx_live.exchange import ExchangeConfig, Faults, StoreSource

    try:
        config = ExchangeConfig(
            host=args.host, port=args.port, speed=args.speed, loop=args.loop, seed=args.seed,
            ping_interval_s=args.ping_interval_s, pong_timeout_s=args.pong_timeout_s,
            max_lifetime_s=args.max_lifetime_s, max_streams=args.max_streams,
            rest_weight_limit=args.weight_limit, ban_s=args.ban_s, admin=not args.no_admin,
            await_clients=args.await_clients, rebase_time=args.rebase_time,
            fast_forward_s=args.fast_forward_s,
        )  # fmt: skip
        faults = Faults(
            drop_every_s=args.drop_every_s, malformed_rate=args.malformed_rate,
            oversized_rate=args.oversized_rate, oversized_bytes=args.oversized_bytes,
            slow_send_s=args.slow_send_s, rest_5xx_rate=args.rest_5xx_rate,
        )  # fmt: skip
        faults.validate()
    except ValueError as exc:
        print(f"csx exchange: {exc}")
        return 2
    if not args.store.is_dir():
        print(f"csx exchange: no event store at {args.store}")
        return 2
    symbols = [s.strip().upper() for s in args.symbols.split(",")] if args.symbols else None
    source = StoreSource(args.store, start=args.start, end=args.end, symbols=symbols)
    return asyncio.run(serve(source, config, faults))


async def serve(source: EventSource, config: ExchangeConfig, faults: Faults) -> int:
    """Run until SIGINT/SIGTERM; returns the exit code."""
    import asyncio
    import signal

    from csx_live.exchange import FakeExchange

    exchange = FakeExchange(source, config, faults=faults)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await exchange.start()
    try:
        ready = {"ws": exchange.ws_url, "rest": exchange.rest_url, "port": exchange.port}
        print(json.dumps({"ready": ready}), flush=True)
        await stop.wait()
    finally:
        await exchange.stop()
    counters = exchange.counters.to_dict()
    counters.pop("outages")
    print(json.dumps({"stopped": counters}), flush=True)
    return 0


COMMAND = Command(
    name="exchange",
    help="Serve a fake Binance USD-M exchange (WS + REST) replaying the event store.",
    configure=_configure,
    run=_run,
)
