"""The csx console script answers --help and --version and lists its subcommands."""

from __future__ import annotations

import json
import subprocess
import sys

from csx_core import __version__
from csx_core.cli import build_parser, main


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "csx_core.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"csx {__version__}"


def test_help_lists_every_registered_subcommand() -> None:
    help_text = build_parser().format_help()
    for name in ("contracts", "demo"):
        assert name in help_text


def test_contracts_command_prints_every_contract(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["contracts"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {line["contract"] for line in lines} >= {"Trade", "FeatureSnapshot", "RankEvent"}


def test_no_subcommand_prints_help_and_fails(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([]) == 2
    assert "usage: csx" in capsys.readouterr().out
