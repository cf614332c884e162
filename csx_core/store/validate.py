"""The contracts' ``__post_init__`` rules, vectorised over Arrow tables.

The store checks every table it is given (a bad row would otherwise only surface when a
replay builds contract objects from it); the archive importer uses the same function to
report and skip bad rows. Each kind's rules are its descriptor's ``row_rules``, written next
to the contract's own checks; property tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from csx_core.contracts import DESCRIPTORS

BoolArray = npt.NDArray[np.bool_]


class InvalidRowsError(ValueError):
    """Rows a contract would reject; ``problems`` lists (row index, message)."""

    def __init__(self, kind: str, problems: list[tuple[int, str]]) -> None:
        shown = "; ".join(f"row {i}: {p}" for i, p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{kind}: {len(problems)} invalid rows: {shown}{more}")
        self.kind = kind
        self.problems = problems


class _Rules:
    """Collects the first broken rule of each row (a ``csx_core.contracts.RowRules``)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.bad = np.zeros(table.num_rows, dtype=np.bool_)
        self.problems: dict[int, str] = {}

    def require(self, ok: BoolArray, message: Callable[[int], str]) -> None:
        for i in np.flatnonzero(~ok & ~self.bad).tolist():
            self.problems[i] = message(i)
        self.bad |= ~ok

    def require_value(self, ok: BoolArray, template: str, values: npt.NDArray[np.generic]) -> None:
        """``require`` with ``template.format(values[i])`` as the message."""
        self.require(ok, lambda i: template.format(values[i].item()))

    def values(self, name: str) -> npt.NDArray[np.float64]:
        column = self.table.column(name)
        if column.null_count:
            column = column.fill_null(1.0)  # absent optionals pass; only present ones checked
        return np.asarray(column.to_numpy(), dtype=np.float64)

    def ints(self, name: str) -> npt.NDArray[np.int64]:
        return np.asarray(self.table.column(name).to_numpy(), dtype=np.int64)

    def positive(self, *names: str) -> None:
        for name in names:
            v = self.values(name)
            with np.errstate(invalid="ignore", over="ignore"):
                ok = np.isfinite(v) & (v > 0)
            self.require_value(ok, name + " must be > 0, got {!r}", v)

    def non_negative(self, *names: str) -> None:
        for name in names:
            v = self.values(name)
            with np.errstate(invalid="ignore", over="ignore"):
                ok = np.isfinite(v) & (v >= 0)
            self.require_value(ok, name + " must be >= 0, got {!r}", v)


def _symbol_ok(symbol: str) -> bool:
    return bool(symbol) and symbol.isascii() and symbol.isalnum() and symbol.isupper()


def row_problems(kind: str, table: pa.Table) -> list[tuple[int, str]]:
    """(row index, message) for every row of ``table`` (contract schema of ``kind``) that
    the contract would reject, in row order."""
    rules = _Rules(table)
    if table.num_rows == 0:
        return []
    symbols = table.column("symbol")
    bad_symbols = [s for s in pc.unique(symbols).to_pylist() if not _symbol_ok(s)]
    if bad_symbols:
        ok = ~np.asarray(pc.is_in(symbols, pa.array(bad_symbols)).to_numpy(zero_copy_only=False))
        rules.require(ok, lambda i: f"symbol must be upper-case alphanumeric, got {symbols[i]}")
    for name in ("ts_event", "ts_recv"):
        t = rules.ints(name)
        rules.require_value(t >= 0, name + " must be >= 0 ns, got {}", t)
    DESCRIPTORS[kind].row_rules(rules)
    return sorted(rules.problems.items())
