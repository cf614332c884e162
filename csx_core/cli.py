"""The ``csx`` command: one CLI for every job.

Each package contributes its subcommands from its own ``commands`` module (a list of
``Command``), so this dispatcher stays free of I/O frameworks: ``csx_live`` and
``csx_pipelines`` are imported only when the CLI runs, never when ``csx_core`` is imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from csx_core import __version__

COMMAND_MODULES = ("csx_core.commands", "csx_live.commands", "csx_pipelines.commands")


@dataclass(frozen=True)
class Command:
    """A subcommand: ``configure`` adds its arguments, ``run`` does the work and returns the
    process exit code."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def existing_dir(value: str) -> Path:
    """An argparse ``type`` for a directory a read-only command reads: a path that does not
    exist is a one-line usage error naming it, never an empty result or a fresh directory."""
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: no such directory")
    return path


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` for an integer in [low, high]: out of range is a usage error."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} is not in [{low}, {high}]")
        return number

    parse.__name__ = "integer"
    return parse


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csx",
        description="CryptoScreener-X: which Binance USD-M perpetuals are in play, net of costs.",
    )
    parser.add_argument("--version", action="version", version=f"csx {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in modules:
        module = importlib.import_module(module_name)
        command: Command
        for command in module.COMMANDS:
            sub_parser = sub.add_parser(command.name, help=command.help, description=command.help)
            command.configure(sub_parser)
            sub_parser.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
