"""DuckDB views over the store, for ad-hoc SQL (``csx store query``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from csx_core.store.layout import MONTH

if TYPE_CHECKING:
    from csx_core.store.store import EventStore


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def attach_views(
    store: EventStore, con: duckdb.DuckDBPyConnection | None
) -> duckdb.DuckDBPyConnection:
    """Create (or replace) one view per kind with data on ``con`` (a new in-memory
    connection when ``None``). Views list files explicitly, so orphans never leak in, and
    each file is checked against its manifest first (``StoreCorruption`` names a bad one);
    they are a snapshot: call again after writing.

    ``date`` is every row's UTC date of ``ts_event`` for every kind: for a kind of month
    partitions it is computed from ``ts_event`` (the directory only names the month); a
    kind of day partitions keeps the directory's, so ``WHERE date ...`` prunes files."""
    con = con if con is not None else duckdb.connect()
    for kind in store.kinds():
        files = ", ".join(_sql_string(str(p)) for p in store.committed_files(kind, checked=True))
        columns = (
            "* REPLACE (CAST(make_timestamp(ts_event // 1000) AS DATE) AS date)"
            if store.span(kind) == MONTH
            else "*"
        )
        con.execute(
            f"CREATE OR REPLACE VIEW {kind} AS SELECT {columns} FROM read_parquet([{files}], "  # noqa: S608
            "hive_partitioning = true, hive_types = {'date': 'DATE'})"
        )
    return con
