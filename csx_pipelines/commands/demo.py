"""``csx demo``: the main job end to end on embedded defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

from csx_core.cli import Command, int_in, positive_float, positive_int


def _configure(parser: argparse.ArgumentParser) -> None:
    from csx_pipelines.demo import DemoSettings  # stdlib-only imports: cheap

    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="default: data")
    parser.add_argument(
        "--symbols", type=positive_int, default=20, help="simulated symbols (default 20)"
    )
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=DemoSettings.seconds,
        help="how long to watch the live runner, once ready, before the summary",
    )
    parser.add_argument(
        "--speed",
        type=positive_float,
        default=DemoSettings.speed,
        help="held-out replay speed after the warm-up hour (fast-forwarded)",
    )
    parser.add_argument("--port", type=int_in(1, 65535), default=8080, help="live runner HTTP port")
    parser.add_argument("--exchange-port", type=int_in(1, 65535), default=9000)
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the exchange and runner up after the summary (Ctrl-C stops)",
    )


def _run(args: argparse.Namespace) -> int:
    from csx_pipelines.demo import DemoSettings, run_demo

    return run_demo(
        DemoSettings(
            data_dir=args.data_dir,
            symbols=args.symbols,
            seconds=args.seconds,
            speed=args.speed,
            port=args.port,
            exchange_port=args.exchange_port,
            keep_running=args.keep_running,
        )
    )


COMMAND = Command(
    name="demo",
    help="Run the main job end to end: simulate, train and promote through Dagster and "
    "MLflow, then serve a held-out day live.",
    configure=_configure,
    run=_run,
)
