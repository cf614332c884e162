"""Subcommands of this package (registered with the ``csx`` CLI)."""

from __future__ import annotations

from csx_core.cli import Command

COMMANDS: list[Command] = []
