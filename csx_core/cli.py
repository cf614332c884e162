"""The ``csx`` command: one CLI for every job.

Subcommands are plugins: an installed distribution registers each ``Command`` as an entry
point of the ``csx.commands`` group (``name = "package.module:COMMAND"``), and this
dispatcher lists and runs whatever is registered. The core names no package above it, and
the argparse/print adapters live with the package whose job they run; their modules are
imported only when the CLI runs, never when ``csx_core`` is imported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from csx_core import __version__

COMMAND_GROUP = "csx.commands"
"""The entry-point group subcommands register under (``[project.entry-points."csx.commands"]``)."""


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


def registered_commands(group: str = COMMAND_GROUP) -> list[Command]:
    """Every ``Command`` the installed distributions register in ``group``, by name.

    An entry point's name is the subcommand's name and its object a ``Command`` of that name;
    anything else, or one name registered twice, is a packaging bug and raises ``TypeError``
    rather than leaving a command silently missing or shadowed."""
    commands: dict[str, Command] = {}
    for point in entry_points(group=group):
        command = point.load()
        if not isinstance(command, Command) or command.name != point.name:
            raise TypeError(
                f"entry point {point.name} = {point.value} in {group} is not a Command "
                f"named {point.name!r}"
            )
        if point.name in commands:
            raise TypeError(f"csx command {point.name!r} is registered twice in {group}")
        commands[point.name] = command
    return [commands[name] for name in sorted(commands)]


def build_parser(commands: Iterable[Command] | None = None) -> argparse.ArgumentParser:
    """The ``csx`` parser over ``commands`` (default: every registered one)."""
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
    for command in registered_commands() if commands is None else commands:
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
    # ``python -m csx_core.cli`` runs this file as ``__main__``, a second copy of the module
    # whose ``Command`` is not the one the command modules import: dispatch from the real one.
    from csx_core.cli import main as _main

    sys.exit(_main())
