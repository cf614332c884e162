"""Subcommands of this package: every module here exposes ``COMMANDS``; they are collected in
name order so each command lives in its own file."""

from __future__ import annotations

import importlib
import pkgutil

from csx_core.cli import Command

COMMANDS: list[Command] = [
    command
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
    for command in importlib.import_module(f"{__name__}.{info.name}").COMMANDS
]
