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


class CommandError(Exception):
    """An error a command reports to the user as one line (no traceback)."""


def is_user_error(exc: BaseException) -> bool:
    """What ``main`` turns into one ``csx <command>: error: <message>`` line and exit code 2:
    the project's own errors (every config, contract, package and store error is a
    ``ValueError`` subclass, ``StoreCorruption`` or a ``CommandError``) and the file-system
    errors of a bad path (``OSError``). ``--debug`` re-raises them with the
    traceback instead."""
    # imported here: the store pulls pyarrow, which ``csx --help`` should not pay for
    from csx_core.store.errors import StoreCorruption

    return isinstance(exc, (CommandError, StoreCorruption, ValueError, OSError))


def positive_int(value: str) -> int:
    """An argparse ``type`` for an integer >= 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not >= 1")
    return number


positive_int.__name__ = "integer"


def positive_float(value: str) -> float:
    """An argparse ``type`` for a finite number > 0."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"{value} is not > 0")
    return number


positive_float.__name__ = "number"


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
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in modules:
        module = importlib.import_module(module_name)
        command: Command
        for command in module.COMMANDS:
            sub_parser = sub.add_parser(command.name, help=command.help, description=command.help)
            command.configure(sub_parser)
            sub_parser.set_defaults(_run=command.run)
    return parser


def _debug(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "debug", False))


def _where(args: argparse.Namespace) -> str:
    """``csx <command>`` (with its action, e.g. ``csx model list``) for an error line."""
    words = ["csx", str(getattr(args, "command", None) or "")]
    action = getattr(args, "action", None)
    if isinstance(action, str):
        words.append(action)
    return " ".join(w for w in words if w)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        return run(args)
    except KeyboardInterrupt:
        if _debug(args):
            raise
        return 130
    except Exception as exc:
        if _debug(args) or not is_user_error(exc):
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{_where(args)}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
