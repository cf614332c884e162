"""DuckDB views over the store, for ad-hoc SQL (``csx store query``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

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
    they are a snapshot: call again after writing."""
    con = con if con is not None else duckdb.connect()
    for kind in store.kinds():
        files = ", ".join(_sql_string(str(p)) for p in store.committed_files(kind, checked=True))
        con.execute(
            f"CREATE OR REPLACE VIEW {kind} AS SELECT * FROM read_parquet([{files}], "  # noqa: S608
            "hive_partitioning = true, hive_types = {'date': 'DATE'})"
        )
    return con
