"""Errors raised by the event store."""

from __future__ import annotations

from pathlib import Path


class StoreCorruption(Exception):  # noqa: N818 (the name other parts code against)
    """A stored file or manifest that does not match what was written.

    ``path`` names the offending file; readers raise it, ``EventStore.verify`` returns a list
    of them.
    """

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoreCorruption) and (self.path, self.problem) == (
            other.path,
            other.problem,
        )

    def __hash__(self) -> int:
        return hash((self.path, self.problem))


class SchemaMismatchError(ValueError):
    """A table offered to the store whose columns do not match the contract's Arrow schema."""

    def __init__(self, kind: str, column: str, problem: str) -> None:
        super().__init__(f"{kind}.{column}: {problem}")
        self.kind = kind
        self.column = column
        self.problem = problem
