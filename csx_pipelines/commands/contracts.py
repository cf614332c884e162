"""``csx contracts``: the versioned data contracts, their schema versions and fields."""

from __future__ import annotations

import argparse
import json

from csx_core.cli import Command


def _configure_contracts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arrow", action="store_true", help="print each contract's Arrow schema as well"
    )


def _run_contracts(args: argparse.Namespace) -> int:
    return run_contracts(arrow=args.arrow)


def run_contracts(*, arrow: bool) -> int:
    from csx_core.contracts import ALL_CONTRACTS

    for contract in ALL_CONTRACTS:
        schema = contract.arrow_schema()
        line = {
            "contract": contract.__name__,
            "schema_version": contract.SCHEMA_VERSION,
            "fields": schema.names,
        }
        print(json.dumps(line))
        if arrow:
            print(schema.to_string(show_schema_metadata=False))
    return 0


COMMAND = Command(
    name="contracts",
    help="List the versioned data contracts and their fields.",
    configure=_configure_contracts,
    run=_run_contracts,
)
