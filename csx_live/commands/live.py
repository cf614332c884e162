"""``csx live``: the live screener (connectors, runner, HTTP server)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from csx_core.cli import Command

# CLI flag -> settings field; None values are "not given" and leave lower sources in force.
_FLAGS = {
    "host": str,
    "port": int,
    "ws_url": str,
    "rest_url": str,
    "profile": str,
    "model_source": str,
    "graceful_timeout_s": float,
    "cadence_s": int,
    "top_k": int,
    "sink_dir": str,
    "challenger_source": str,
}


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file ([live] table)")
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and print the resolved settings"
    )
    parser.add_argument("--symbols", help="comma-separated symbols (default: the universe)")
    parser.add_argument("--faults", help="comma-separated fault flags (DEV profile only)")
    parser.add_argument(
        "--shard", help="INDEX/COUNT: serve only this shard of the universe (e.g. 0/4)"
    )
    parser.add_argument("--log-level", default=os.environ.get("CSX_LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--record", type=Path, metavar="STORE",
        help="also record what the engine consumes into this event store (csx replay it to "
        "check /api/parity's digest)",
    )  # fmt: skip
    parser.add_argument(
        "--merge-idle-s", type=_positive,
        help="seconds a silent connection may hold the others back (default: the runner's "
        "0.25; a csx exchange --speed max replay needs about 60)",
    )  # fmt: skip
    for name, kind in _FLAGS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None)


def _run(args: argparse.Namespace) -> int:
    from csx_live.config import ConfigError, dump_settings, load_settings, parse_shard

    overrides: dict[str, object] = {name: getattr(args, name) for name in _FLAGS}
    overrides["symbols"] = args.symbols
    overrides["faults"] = args.faults
    try:
        if args.shard:
            overrides["shard_index"], overrides["shard_count"] = parse_shard(args.shard)
        settings = load_settings(file=args.config, env=os.environ, overrides=overrides)
    except ConfigError as exc:
        print(f"csx live: invalid setting {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(dump_settings(settings))
        return 0
    from csx_live.app import DecoderUnavailableError, build_live, serve_until_signalled
    from csx_live.logging import configure_logging
    from csx_live.runner import RunnerConfig

    configure_logging(level=args.log_level, secrets=settings.secrets())
    try:
        parts = build_live(
            settings,
            record_to=args.record,
            merge_idle_s=args.merge_idle_s or RunnerConfig.merge_idle_s,
        )
    except DecoderUnavailableError as exc:
        print(f"csx live: {exc}", file=sys.stderr)
        return 3
    try:
        import uvloop
    except ImportError:
        import asyncio

        return asyncio.run(serve_until_signalled(parts))
    return uvloop.run(serve_until_signalled(parts))


COMMAND = Command(
    name="live",
    help="Run the live screener: exchange connectors, ranks, /metrics, /readyz, /api.",
    configure=_configure,
    run=_run,
)
