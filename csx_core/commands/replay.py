"""``csx replay``: stored events -> feature snapshots (Parquet) and their digest."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from csx_core.cli import Command, existing_dir, int_in
from csx_core.features.buckets import MAX_AHEAD_S


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
        type=int_in(1, MAX_AHEAD_S // 2),
        default=1,
        help=f"seconds between ticks, 1..{MAX_AHEAD_S // 2}",
    )
    parser.add_argument(
        "--gap-after", type=int, default=120, help="silence (s) after which data counts as a gap"
    )


def _run(args: argparse.Namespace) -> int:
    from csx_core.features import EngineConfig
    from csx_core.replay import replay_store

    symbols = args.symbols.split(",") if args.symbols else None
    config = EngineConfig(cadence_s=args.cadence, gap_after_s=args.gap_after)
    result = replay_store(
        args.store, args.out, start=args.start, end=args.end, symbols=symbols, config=config
    )
    print(result.to_json())
    return 0


COMMANDS = [
    Command(
        name="replay",
        help="Replay the event store through the feature engine; print the snapshot digest.",
        configure=_configure,
        run=_run,
    ),
]
