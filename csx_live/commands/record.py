"""``csx record``: the live connectors writing every decoded event to the Parquet store, and
with ``--raw`` every raw frame to ``<store>/raw/`` (``csx_live.raw_frames``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from csx_core.cli import Command


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, required=True, help="event store root")
    parser.add_argument("--config", type=Path, help="TOML settings file ([live] table)")
    parser.add_argument("--ws-url", dest="ws_url")
    parser.add_argument("--rest-url", dest="rest_url")
    parser.add_argument("--symbols", help="comma-separated symbols (default: the universe)")
    parser.add_argument("--channels", help="comma-separated channels (default: as csx live)")
    parser.add_argument(
        "--batch-events", type=int, default=50_000, help="commit a batch every N events"
    )
    parser.add_argument(
        "--flush-s", type=float, default=5.0, help="commit the open batch after S seconds"
    )
    parser.add_argument(
        "--duration-s", type=float, default=None, help="stop after S seconds (default: signal)"
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="also keep every raw frame as `<recv_ns> <frame>` lines in gzip files under "
        "<store>/raw/ (one per UTC hour or --raw-max-mb), re-decodable with `csx import`",
    )
    parser.add_argument(
        "--raw-max-mb",
        type=float,
        default=256.0,
        help="start a new raw file at this compressed size (MB, default 256)",
    )
    parser.add_argument("--log-level", default=os.environ.get("CSX_LOG_LEVEL", "INFO"))


def _run(args: argparse.Namespace) -> int:
    from csx_live.config import ConfigError, load_settings

    if args.batch_events < 1 or not args.flush_s > 0:
        print("csx record: --batch-events must be >= 1 and --flush-s > 0", file=sys.stderr)
        return 2
    raw_max_bytes = int(args.raw_max_mb * 1e6)
    if raw_max_bytes < 1:
        print("csx record: --raw-max-mb must be > 0", file=sys.stderr)
        return 2
    overrides = {
        "ws_url": args.ws_url,
        "rest_url": args.rest_url,
        "symbols": args.symbols,
        "channels": args.channels,
    }
    try:
        settings = load_settings(file=args.config, env=os.environ, overrides=overrides)
    except ConfigError as exc:
        print(f"csx record: invalid setting {exc}", file=sys.stderr)
        return 2
    import asyncio
    import signal

    from csx_live.logging import configure_logging
    from csx_live.recorder import record

    configure_logging(level=args.log_level, secrets=settings.secrets())

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.duration_s is not None:
            loop.call_later(args.duration_s, stop.set)
        summary = await record(
            settings,
            args.store,
            stop=stop,
            batch_events=args.batch_events,
            flush_s=args.flush_s,
            raw_max_bytes=raw_max_bytes if args.raw else None,
        )
        print(summary.to_json(), flush=True)
        return 0

    return asyncio.run(main())


COMMAND = Command(
    name="record",
    help="Record the exchange feed (decoded events, gap ledger; raw frames with --raw) "
    "into the event store.",
    configure=_configure,
    run=_run,
)
