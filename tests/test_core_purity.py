"""csx_core stays pure: no I/O frameworks, no environment, no wall clock."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

FORBIDDEN_PACKAGES = (
    "dagster",
    "mlflow",
    "aiohttp",
    "websockets",
    "anthropic",
    "prometheus_client",
    "csx_live",
    "csx_pipelines",
)
# Reading the clock or the environment inside the core breaks replay determinism.
FORBIDDEN_CALLS = {
    ("time", "time"),
    ("time", "time_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("date", "today"),
    ("os", "getenv"),
}
CORE_FILES = sorted((REPO_ROOT / "csx_core").rglob("*.py"))
# Every file the core ships (sources, docs, package data), bytecode caches aside.
CORE_TREE = sorted(
    p for p in (REPO_ROOT / "csx_core").rglob("*") if p.is_file() and "__pycache__" not in p.parts
)
# The packages above the core, as a name: ``csx_live``, ``csx_live.llm``, ``"csx_pipelines"``,
# ``csx_live/app.py``. An identifier that merely starts with the letters (the Prometheus
# metric ``csx_live_brier``) is another name and does not match.
UPPER_PACKAGE = re.compile(rb"(?<![A-Za-z0-9_])csx_(?:live|pipelines)(?![A-Za-z0-9_])")


def test_importing_every_core_module_loads_no_io_framework() -> None:
    probe = f"""
import importlib, pkgutil, sys
import csx_core
for m in pkgutil.walk_packages(csx_core.__path__, "csx_core."):
    importlib.import_module(m.name)
bad = sorted({{n.split(".")[0] for n in sys.modules}} & set({FORBIDDEN_PACKAGES!r}))
print(",".join(bad))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert out.stdout.strip() == "", f"csx_core pulled in: {out.stdout.strip()}"


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_core_source_has_no_forbidden_imports_or_ambient_state(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        else:
            names = []
        problems += [f"imports {n}" for n in names if n.split(".")[0] in FORBIDDEN_PACKAGES]
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (
                (node.value.id, node.attr) in FORBIDDEN_CALLS
                or (node.value.id == "os" and node.attr == "environ")
            )
        ):
            problems.append(f"line {node.lineno}: uses {node.value.id}.{node.attr}")
    assert problems == [], f"{path.name}: {problems}"


def test_core_tree_is_not_empty() -> None:
    assert any(p.name == "cli.py" for p in CORE_TREE)


@pytest.mark.parametrize("path", CORE_TREE, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_core_never_names_a_package_above_it(path: Path) -> None:
    """Not even as a string (``importlib.import_module("csx_live…")``, an entry-point table, a
    docstring pointer): the core knows nothing of the floors above it, so a rename or a
    removal up there never breaks it, and the import-based checks above cannot be dodged."""
    text = path.read_bytes()
    newline = b"\n"
    hits = [
        f"line {text.count(newline, 0, m.start()) + 1}: {m.group().decode()}"
        for m in UPPER_PACKAGE.finditer(text)
    ]
    assert hits == [], f"{path.relative_to(REPO_ROOT)} names {hits}"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (b'COMMANDS = ("csx_core.commands", "csx_live.commands")', True),
        (b"from csx_pipelines.registry import x", True),
        (b"see csx_live/app.py", True),
        (b"``csx_pipelines``", True),
        (b'"csx_live_brier": "metric"', False),
        (b"mycsx_live", False),
    ],
)
def test_upper_package_pattern(text: bytes, names: bool) -> None:
    assert bool(UPPER_PACKAGE.search(text)) is names
