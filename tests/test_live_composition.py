"""The live composition root builds by construction (issue 21 item 3): ``build_live`` is
short and assigns no attribute of another object, and the runner does not write itself
into the shared state."""

from __future__ import annotations

import ast
import inspect

import csx_live.app
import csx_live.runner

MAX_BUILD_LIVE_LINES = 84  # half of the 168 it had when it wired by assignment


def function(module: object, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    raise AssertionError(f"{name} not found")


def attribute_writes(node: ast.AST) -> list[str]:
    """``x.attr = ...``, ``x.attr += ...`` and ``x.attr.append/extend(...)`` in ``node``."""
    found = []
    for child in ast.walk(node):
        targets: list[ast.expr] = []
        if isinstance(child, ast.Assign):
            targets = child.targets
        elif isinstance(child, ast.AugAssign | ast.AnnAssign):
            targets = [child.target]
        found += [ast.unparse(t) for t in targets if isinstance(t, ast.Attribute)]
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and child.func.attr in {"append", "extend"}
            and isinstance(child.func.value, ast.Attribute)
        ):
            found.append(ast.unparse(child.func))
    return found


def test_build_live_is_short_and_wires_nothing_after_construction() -> None:
    node = function(csx_live.app, "build_live")
    assert node.end_lineno is not None
    assert node.end_lineno - node.lineno + 1 <= MAX_BUILD_LIVE_LINES
    assert attribute_writes(node) == []


def test_the_runner_does_not_write_itself_into_the_state() -> None:
    init = function(csx_live.runner.Runner, "__init__")
    assert [w for w in attribute_writes(init) if w.startswith("state.")] == []
    # what it does subscribe to, it is handed (the gap ledger it listens to)
    assert [w for w in attribute_writes(init) if not w.startswith("self.")] == [
        "gaps.on_close.append"
    ]
