"""``csx replay``: stored events -> feature snapshots (Parquet) and their digest."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from csx_core.cli import Command, existing_dir, positive_int
from csx_pipelines.commands.train import cadence


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=existing_dir, default="data/events", help="event store (must exist)"
    )
    parser.add_argument("--out", type=Path, default=Path("data/features"), help="output dir")
    parser.add_argument("--start", type=date.fromisoformat, help="first UTC date (YYYY-MM-DD)")
    parser.add_argument("--end", type=date.fromisoformat, help="last UTC date (inclusive)")
    parser.add_argument("--symbols", help="comma-separated symbols (default: all)")
    parser.add_argument(
        "--cadence",
        type=cadence,
        default=1,
        help="seconds between ticks: 1..60, or a bar cadence such as 5m, 15m or 1h",
    )
    parser.add_argument(
        "--gap-after",
        type=positive_int,
        default=None,
        help="silence (s) after which data counts as a gap (default: 120, two bars at a "
        "bar cadence)",
    )


def _run(args: argparse.Namespace) -> int:
    from csx_core.features import EngineConfig
    from csx_core.replay import replay_store

    symbols = args.symbols.split(",") if args.symbols else None
    config = EngineConfig.for_cadence(args.cadence, args.gap_after)
    result = replay_store(
        args.store, args.out, start=args.start, end=args.end, symbols=symbols, config=config
    )
    print(result.to_json())
    return 0


COMMAND = Command(
    name="replay",
    help="Replay the event store through the feature engine; print the snapshot digest.",
    configure=_configure,
    run=_run,
)
