"""Subcommands of the ML platform (registered with the ``csx`` CLI)."""

from __future__ import annotations

import argparse

from csx_core.cli import Command


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default="data", help="the local data lake (default: data)")


def _run_demo(args: argparse.Namespace) -> int:
    # The demo grows stage by stage as the platform does; today it lists the contracts that
    # every stage exchanges.
    from csx_core.commands.contracts import run_contracts

    print("CryptoScreener-X demo: the data contracts every stage exchanges")
    return run_contracts(arrow=False)


COMMANDS = [
    Command(
        name="demo",
        help="Run the main job end to end on embedded defaults.",
        configure=_configure_demo,
        run=_run_demo,
    ),
]
