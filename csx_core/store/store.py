"""``EventStore``: market events as Parquet, partitioned by kind and UTC date.

Layout: ``<root>/kind=<kind>/date=<YYYY-MM-DD>/part-<sha256 prefix>.parquet`` plus one
``manifest.json`` per partition listing each file's rows, bytes, SHA-256 and ts_event range
(ns). The manifest is the single source of truth: files it does not list are invisible.
One writer per store at a time (an exclusive ``flock`` on ``<root>/.lock`` enforces it
between processes); any number of readers.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from csx_core.contracts import EVENT_KINDS, MarketEvent, event_kind
from csx_core.store.atomic import TEMP_PREFIX
from csx_core.store.errors import StoreCorruption
from csx_core.store.keys import KIND_ORDER, conform, contract_schema, partition_days, sort_rows
from csx_core.store.manifest import MANIFEST_NAME, Manifest, load_manifest
from csx_core.store.merge import merge_day
from csx_core.store.partition import (
    HashCache,
    check_file,
    read_partition,
    unique_rows,
    write_partition,
)
from csx_core.store.validate import InvalidRowsError, row_problems

if TYPE_CHECKING:
    import duckdb

EPOCH = date(1970, 1, 1)
LOCK_NAME = ".lock"


@dataclass(frozen=True)
class WriteReport:
    """What ``EventStore.write`` did with one table of one kind.

    ``rows_in`` = ``rows_written`` + ``duplicates``: a kline version that supersedes a
    stored one counts as written, and the stored version it replaced in ``rows_replaced``.
    ``partitions``/``files``: the partitions changed and the files created.
    """

    kind: str
    rows_in: int
    rows_written: int
    duplicates: int
    rows_replaced: int
    partitions: tuple[date, ...]
    files: tuple[Path, ...]


def events_table(kind: str, events: Sequence[MarketEvent]) -> pa.Table:
    """The contract-schema table of ``events`` (all of ``kind``), built column by column:
    about 3x faster than ``Contract.to_arrow``'s row dicts, same result."""
    schema = contract_schema(kind)
    columns = [
        pa.array([getattr(e, field.name) for e in events], type=field.type) for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


class EventStore:
    """Parquet event store; see the module docstring for the layout and guarantees.

    ``hash_on_read``: readers check every file's SHA-256 against the manifest (cached per
    file size and mtime within this object); with ``False`` they check existence and size
    only. ``verify`` always hashes. ``max_files_per_partition``: an append that would exceed
    it rewrites the partition as a single file.
    """

    def __init__(
        self, root: Path, *, hash_on_read: bool = True, max_files_per_partition: int = 64
    ) -> None:
        self.root = Path(root)
        self.hash_on_read = hash_on_read
        self.max_files_per_partition = max_files_per_partition
        self._hashes = HashCache()

    # -- layout -------------------------------------------------------------------------
    def partition_path(self, kind: str, day: date) -> Path:
        return self.root / f"kind={kind}" / f"date={day.isoformat()}"

    def kinds(self) -> list[str]:
        """Kinds with at least one committed partition, in ``KIND_ORDER``."""
        return [k for k in KIND_ORDER if self.dates(k)]

    def dates(self, kind: str) -> list[date]:
        """UTC dates with a committed partition (one that has a manifest), ascending."""
        contract_schema(kind)
        kind_dir = self.root / f"kind={kind}"
        if not kind_dir.is_dir():
            return []
        found = []
        for child in kind_dir.iterdir():
            if child.name.startswith("date=") and (child / MANIFEST_NAME).is_file():
                try:
                    found.append(date.fromisoformat(child.name.removeprefix("date=")))
                except ValueError:
                    continue  # not a partition this store wrote
        return sorted(found)

    def _dates_between(self, kind: str, start: date | None, end: date | None) -> list[date]:
        return [
            d
            for d in self.dates(kind)
            if (start is None or d >= start) and (end is None or d <= end)
        ]

    def _manifest(self, kind: str, day: date) -> Manifest:
        partition = self.partition_path(kind, day)
        manifest = load_manifest(partition)
        path = partition / MANIFEST_NAME
        if manifest is None:
            raise StoreCorruption(path, "manifest disappeared")
        contract = EVENT_KINDS[kind]
        if manifest.kind != kind or manifest.date != day.isoformat():
            raise StoreCorruption(path, f"describes {manifest.kind}/{manifest.date}")
        if manifest.schema_version != contract.SCHEMA_VERSION:
            raise StoreCorruption(
                path,
                f"schema version {manifest.schema_version}, this code reads "
                f"{contract.SCHEMA_VERSION}",
            )
        return manifest

    # -- writing ------------------------------------------------------------------------
    def write(self, kind: str, table: pa.Table) -> WriteReport:
        """Store the rows of ``table`` (in ``EVENT_KINDS[kind].arrow_schema()``).

        Rows whose exchange ids are already stored, or repeated in ``table``, are dropped
        (klines: the latest version wins); writing the same table twice changes nothing.
        Raises ``SchemaMismatchError`` naming the column if the schema differs, and
        ``InvalidRowsError`` (nothing written) if any row breaks its contract's rules.
        """
        rows = conform(kind, table)
        rows_in = rows.num_rows
        problems = row_problems(kind, rows)
        if problems:
            raise InvalidRowsError(kind, problems)
        rows = sort_rows(kind, unique_rows(kind, rows))
        days = partition_days(rows)
        bounds = np.flatnonzero(np.diff(days)) + 1
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), rows.num_rows]
        written = replaced = 0
        partitions: list[date] = []
        files: list[Path] = []
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOCK_NAME).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for lo, hi in zip(starts, ends, strict=True):
                if hi <= lo:
                    continue
                day = EPOCH + timedelta(days=int(days[lo]))
                result = write_partition(
                    kind,
                    day.isoformat(),
                    self.partition_path(kind, day),
                    rows.slice(lo, hi - lo),
                    self._hashes,
                    max_files=self.max_files_per_partition,
                )
                written += result.added
                replaced += result.replaced
                if result.files:
                    partitions.append(day)
                    files.extend(result.files)
        return WriteReport(
            kind=kind,
            rows_in=rows_in,
            rows_written=written,
            duplicates=rows_in - written,
            rows_replaced=replaced,
            partitions=tuple(partitions),
            files=tuple(files),
        )

    def write_events(self, events: Iterable[MarketEvent]) -> list[WriteReport]:
        """Group ``events`` by kind and ``write`` each group (one report per kind present,
        in ``KIND_ORDER``)."""
        groups: dict[str, list[MarketEvent]] = {}
        for event in events:
            groups.setdefault(event_kind(event), []).append(event)
        return [
            self.write(kind, events_table(kind, groups[kind]))
            for kind in KIND_ORDER
            if kind in groups
        ]

    # -- reading ------------------------------------------------------------------------
    def read(
        self,
        kind: str,
        *,
        start: date | None = None,
        end: date | None = None,
        symbols: Sequence[str] | None = None,
    ) -> pa.Table:
        """Rows of ``kind`` with ts_event in UTC dates [start, end] (inclusive), optionally
        only ``symbols``, ordered by (ts_event, symbol, ids). Raises ``StoreCorruption``.

        Dedup happens per partition on write; a kline whose versions straddle midnight
        (an open update on day D, the closed bar stamped on D+1) is stored in both days,
        so for klines this keeps only the winning version across the range read.
        ``iter_events`` replays both versions, as a live feed would have sent them.
        """
        tables = [
            self._read_day(kind, day, symbols) for day in self._dates_between(kind, start, end)
        ]
        if not tables:
            return contract_schema(kind).empty_table()
        table = pa.concat_tables(tables)
        if kind == "kline" and len(tables) > 1:
            table = unique_rows(kind, table)
        return table

    def _read_day(self, kind: str, day: date, symbols: Sequence[str] | None) -> pa.Table:
        hashes = self._hashes if self.hash_on_read else None
        partition = self.partition_path(kind, day)
        manifest = self._manifest(kind, day)
        try:
            table = read_partition(kind, partition, manifest, hashes)
        except StoreCorruption:
            # A concurrent writer may have rewritten the partition (and removed the files
            # this manifest listed) between our manifest read and file reads: retry once.
            latest = self._manifest(kind, day)
            if latest == manifest:
                raise
            table = read_partition(kind, partition, latest, hashes)
        if symbols is not None:
            table = table.filter(pc.is_in(table.column("symbol"), pa.array(list(symbols))))
        return table

    def scan(
        self,
        kinds: Sequence[str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
        symbols: Sequence[str] | None = None,
    ) -> Iterator[tuple[str, pa.Table]]:
        """(kind, table) per day and kind, days ascending, kinds in ``KIND_ORDER``: the
        columnar way to stream the store with one day per kind in memory."""
        wanted = [k for k in KIND_ORDER if kinds is None or k in kinds]
        for day in self._days_of(wanted, start, end):
            for kind in wanted:
                if (self.partition_path(kind, day) / MANIFEST_NAME).is_file():
                    yield kind, self._read_day(kind, day, symbols)

    def _days_of(self, kinds: Sequence[str], start: date | None, end: date | None) -> list[date]:
        return sorted({d for k in kinds for d in self._dates_between(k, start, end)})

    def iter_events(
        self,
        *,
        start: date | None = None,
        end: date | None = None,
        symbols: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        batch_rows: int = 65_536,
    ) -> Iterator[MarketEvent]:
        """Every stored event in event-time order, ties broken by (kind in ``KIND_ORDER``,
        symbol, exchange id). Memory holds one day of Arrow tables plus ``batch_rows``
        Python events."""
        wanted = [k for k in KIND_ORDER if kinds is None or k in kinds]
        for day in self._days_of(wanted, start, end):
            tables = {
                kind: self._read_day(kind, day, symbols)
                for kind in wanted
                if (self.partition_path(kind, day) / MANIFEST_NAME).is_file()
            }
            yield from merge_day(tables, batch_rows=batch_rows)

    # -- integrity ----------------------------------------------------------------------
    def verify(self) -> list[StoreCorruption]:
        """Every problem in committed partitions: unreadable manifests, missing, resized,
        altered (SHA-256) or unreadable files, row counts or schemas that differ. Empty when
        healthy. Orphan files (see ``orphans``) are not corruption."""
        problems: list[StoreCorruption] = []
        for kind in KIND_ORDER:
            for day in self.dates(kind):
                partition = self.partition_path(kind, day)
                try:
                    manifest = self._manifest(kind, day)
                except StoreCorruption as exc:
                    problems.append(exc)
                    continue
                for entry in manifest.files:
                    path = partition / entry.name
                    try:
                        check_file(path, entry, self._hashes, cached=False)
                        meta = pq.read_metadata(path)
                        if meta.num_rows != entry.rows:
                            raise StoreCorruption(
                                path, f"{meta.num_rows} rows, manifest says {entry.rows}"
                            )
                        conform(kind, meta.schema.to_arrow_schema().empty_table())
                    except StoreCorruption as exc:
                        problems.append(exc)
                    except (OSError, ValueError, pa.ArrowException) as exc:
                        problems.append(StoreCorruption(path, f"unreadable Parquet: {exc}"))
        return problems

    def orphans(self) -> list[Path]:
        """Files in partition directories that no manifest lists: temp files of a crashed
        write, or files superseded by a rewrite. Readers ignore them."""
        found: list[Path] = []
        for kind in KIND_ORDER:
            kind_dir = self.root / f"kind={kind}"
            if not kind_dir.is_dir():
                continue
            for partition in sorted(kind_dir.iterdir()):
                if not partition.is_dir():
                    continue
                manifest = load_manifest(partition)
                listed = {f.name for f in manifest.files} if manifest else set()
                listed.add(MANIFEST_NAME)
                found += [
                    p
                    for p in sorted(partition.iterdir())
                    if p.is_file() and (p.name not in listed or p.name.startswith(TEMP_PREFIX))
                ]
        return found

    def clean_orphans(self) -> list[Path]:
        """Delete ``orphans()`` (under the writer lock) and return what was removed."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOCK_NAME).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            removed = self.orphans()
            for path in removed:
                path.unlink(missing_ok=True)
        return removed

    # -- SQL ----------------------------------------------------------------------------
    def duckdb(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per stored kind (named after the kind) over the
        files the manifests list now, with hive columns ``kind`` and ``date`` (DATE)."""
        from csx_core.store.query import attach_views

        return attach_views(self, con)

    def committed_files(self, kind: str, *, checked: bool = False) -> list[Path]:
        """Paths of every manifest-listed file of ``kind``, by date. ``checked``: each file
        is first held against its manifest entry (size, and SHA-256 when ``hash_on_read``),
        raising ``StoreCorruption`` naming it, so a reader that goes to the files directly
        (DuckDB) never reads a corrupt one silently."""
        hashes = self._hashes if self.hash_on_read else None
        files: list[Path] = []
        for day in self.dates(kind):
            partition = self.partition_path(kind, day)
            for entry in self._manifest(kind, day).files:
                if checked:
                    check_file(partition / entry.name, entry, hashes, cached=True)
                files.append(partition / entry.name)
        return files


__all__ = ["EventStore", "WriteReport", "events_table"]
