"""``csx simulate``: generate the deterministic synthetic market into the event store."""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

from csx_core.cli import Command


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=3, help="UTC days to simulate (default 3)")
    parser.add_argument("--symbols", type=int, default=20, help="number of symbols (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--start", type=date.fromisoformat, default=date(2026, 1, 1), help="first UTC day"
    )
    parser.add_argument("--out", type=Path, default=Path("data/events"), help="event store root")
    parser.add_argument(
        "--episodes",
        type=Path,
        default=None,
        help="also write the injected episodes (ground truth) to this Parquet file",
    )
    parser.add_argument("--no-klines", action="store_true", help="skip the 1m klines")
    parser.add_argument(
        "--mark-interval", type=int, choices=(1, 3), default=3, help="markPrice period, s"
    )


def _run(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from csx_core.sim import SimConfig, SimConfigError, episodes, write_to_store
    from csx_core.store import EventStore

    try:
        config = SimConfig(
            seed=args.seed,
            start=args.start,
            days=args.days,
            n_symbols=args.symbols,
            klines=not args.no_klines,
            mark_interval_s=args.mark_interval,
        )
    except SimConfigError as exc:
        print(f"csx simulate: {exc}")
        return 2
    began = time.perf_counter()
    summary = write_to_store(config, EventStore(args.out))
    if args.episodes is not None:
        truth = pa.concat_tables([episodes(config, d) for d in range(config.days)])
        args.episodes.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(truth, args.episodes)
    line = {
        "out": str(args.out),
        "days": summary.days,
        "symbols": summary.symbols,
        "events": summary.events,
        "total_events": summary.total_events,
        "episodes": summary.episodes,
        "false_alarms": summary.false_alarms,
        "surprise_moves": summary.surprise_moves,
        "seconds": round(time.perf_counter() - began, 2),
    }
    print(json.dumps(line))
    return 0


COMMAND = Command(
    name="simulate",
    help="Write a deterministic synthetic Binance USD-M market into the event store.",
    configure=_configure,
    run=_run,
)
