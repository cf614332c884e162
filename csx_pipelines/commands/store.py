"""``csx store``: inspect, verify and query the Parquet event store."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from csx_core.cli import Command, existing_dir

if TYPE_CHECKING:
    from csx_core.store import EventStore


def _configure(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store", type=existing_dir, default="data/events", help="store root (must exist)"
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("stats", parents=[common], help="rows, days, span, partitions, files per kind")
    verify = sub.add_parser("verify", parents=[common], help="hash every file vs its manifest")
    verify.add_argument("--clean", action="store_true", help="also delete files no manifest lists")
    query = sub.add_parser("query", parents=[common], help="run SQL over one view per kind")
    query.add_argument("sql", help='e.g. "SELECT symbol, count(*) FROM trade GROUP BY 1"')


def _run(args: argparse.Namespace) -> int:
    from csx_core.store import EventStore, StoreCorruption

    store = EventStore(args.store)
    if args.action == "stats":
        try:
            return _stats(store)
        except StoreCorruption as exc:
            print(f"csx store stats: error: {exc} (see csx store verify)", file=sys.stderr)
            return 2
    if args.action == "verify":
        problems = store.verify()
        for problem in problems:
            print(f"CORRUPT {problem}")
        for orphan in store.clean_orphans() if args.clean else store.orphans():
            print(f"{'removed' if args.clean else 'orphan'} {orphan}")
        print("ok" if not problems else f"{len(problems)} problems")
        return 1 if problems else 0
    try:
        con = store.duckdb()
    except StoreCorruption as exc:
        print(f"csx store query: error: {exc} (see csx store verify)", file=sys.stderr)
        return 2
    result = con.sql(args.sql)
    if result is None:
        return 0
    print("\t".join(result.columns))
    for row in result.fetchall():
        print("\t".join("NULL" if v is None else str(v) for v in row))
    return 0


def _stats(store: EventStore) -> int:
    con = store.duckdb()
    for kind in store.kinds():
        row = con.sql(
            f"SELECT count(*), count(DISTINCT symbol), min(date), max(date) FROM {kind}"  # noqa: S608
        ).fetchall()[0]
        line = {
            "kind": kind,
            "rows": row[0],
            "symbols": row[1],
            "first_date": str(row[2]),
            "last_date": str(row[3]),
            "days": len(store.dates(kind)),
            "span": store.span(kind),
            "partitions": len(store.partitions(kind)),
            "files": len(store.committed_files(kind)),
        }
        print(json.dumps(line))
    return 0


COMMAND = Command(
    name="store",
    help="Inspect, verify (SHA-256) and query (SQL) the Parquet event store.",
    configure=_configure,
    run=_run,
)
