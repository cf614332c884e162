"""``EventStore``: market events as Parquet, partitioned by kind and UTC day or month.

Layout: ``<root>/kind=<kind>/date=<YYYY-MM-DD>/part-<sha256 prefix>.parquet`` plus one
``manifest.json`` per partition listing each file's rows, bytes, SHA-256 and ts_event range
(ns). The manifest is the single source of truth: files it does not list are invisible.
Each kind directory holds day partitions or month partitions (``date=YYYY-MM-01``), never
both: the first write of a kind picks the span, later writes follow it (see
``csx_core.store.layout``). The API speaks in days either way: ``dates`` lists the days with
rows, ``read`` cuts a month to the days asked for.
One writer per store at a time (an exclusive ``flock`` on ``<root>/.lock`` enforces it
between processes); any number of readers.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from csx_core.contracts import EVENT_KINDS, MarketEvent, event_kind
from csx_core.store.atomic import TEMP_PREFIX, ensure_dir
from csx_core.store.errors import StoreCorruption
from csx_core.store.keys import (
    KIND_ORDER,
    NS_PER_DAY,
    conform,
    contract_schema,
    partition_days,
    sort_rows,
)
from csx_core.store.kind_dir import KindLayout, ManifestCache, scan_kind_dir
from csx_core.store.layout import DAY, EPOCH, MONTH, check_span, partition_key, partition_key_days
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
from csx_core.store.windows import PartitionWindows

if TYPE_CHECKING:
    import duckdb

LOCK_NAME = ".lock"
SEC = 1_000_000_000
WRITE_THREADS = 8
"""Partitions committed at once by one ``write``: their fsyncs overlap (on this machine's
disk 80 partitions took 0.5 s one at a time, 0.04 s eight at a time)."""


@dataclass(frozen=True)
class WriteReport:
    """What ``EventStore.write`` did with one table of one kind.

    ``rows_in`` = ``rows_written`` + ``duplicates``: a kline version that supersedes a
    stored one counts as written, and the stored version it replaced in ``rows_replaced``.
    ``partitions``/``files``: the partitions changed (named by their date: the month's
    first day for a month partition) and the files created. ``span``: the span the kind's
    partitions have (the one asked for only if the kind had none yet).
    """

    kind: str
    rows_in: int
    rows_written: int
    duplicates: int
    rows_replaced: int
    partitions: tuple[date, ...]
    files: tuple[Path, ...]
    span: str


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
        self._manifests = ManifestCache()
        # A kind's span never changes once it has a partition: (span, that partition), so a
        # day-by-day reader finds it with one stat instead of a directory listing.
        self._spans: dict[str, tuple[str, Path]] = {}
        # The last month partition read, so a replay asking for each of its ~30 days in turn
        # reads and decodes it once: (partition, manifest) -> table.
        self._month: tuple[tuple[Path, Manifest], pa.Table] | None = None

    # -- layout -------------------------------------------------------------------------
    def _kind_dir(self, kind: str) -> Path:
        return self.root / f"kind={kind}"

    def _dir(self, kind: str, key: date) -> Path:
        return self._kind_dir(kind) / f"date={key.isoformat()}"

    def _layout(self, kind: str) -> KindLayout:
        contract_schema(kind)
        layout = scan_kind_dir(self._kind_dir(kind), self._manifests)
        if layout.span is not None and layout.problem is None:
            self._spans[kind] = (layout.span, layout.partitions[0].path)
        return layout

    def _span(self, kind: str) -> str | None:
        hit = self._spans.get(kind)
        if hit is not None and (hit[1] / MANIFEST_NAME).is_file():
            return hit[0]
        return self._layout(kind).span

    def span(self, kind: str) -> str | None:
        """The span of ``kind``'s partitions (``DAY`` or ``MONTH``), ``None`` while it has
        none. Raises ``StoreCorruption`` if its directory holds both (never written so)."""
        layout = self._layout(kind)
        layout.check()
        return layout.span

    def partition_path(self, kind: str, day: date) -> Path:
        """The partition directory holding (or that would hold) ``day``'s rows of ``kind``:
        the day's own, or the month's (``date=YYYY-MM-01``) in a kind of month partitions."""
        return self._dir(kind, partition_key(self._span(kind) or DAY, day))

    def kinds(self) -> list[str]:
        """Kinds with at least one committed partition, in ``KIND_ORDER``."""
        return [k for k in KIND_ORDER if self.dates(k)]

    def dates(self, kind: str) -> list[date]:
        """UTC dates with committed rows, ascending: each day partition's date, and each
        day a month partition's manifest lists."""
        return self._layout(kind).days()

    def day_rows(self, kind: str, day: date) -> int:
        """Rows of ``kind`` stored for ``day``: its day partition's manifest count, without
        reading the files (``read`` counts the rows of a month partition's day)."""
        if self._span(kind) == MONTH:
            return int(self.read(kind, start=day, end=day).num_rows)
        if day not in self.dates(kind):
            return 0
        return sum(entry.rows for entry in self._manifest(kind, day).files)

    def partitions(self, kind: str) -> list[Path]:
        """Directories of the committed partitions of ``kind``, by date."""
        return [p.path for p in self._layout(kind).partitions]

    def _manifest(self, kind: str, day: date) -> Manifest:
        """The manifest of the partition holding ``day``, checked against its place."""
        return self._manifest_at(kind, self.partition_path(kind, day), self._span(kind))

    def _manifest_at(self, kind: str, partition: Path, span: str | None = None) -> Manifest:
        """The manifest of ``partition``, checked against its name and (given ``span``, the
        kind's) its span."""
        manifest = load_manifest(partition)
        path = partition / MANIFEST_NAME
        if manifest is None:
            raise StoreCorruption(path, "manifest disappeared")
        contract = EVENT_KINDS[kind]
        key = partition.name.removeprefix("date=")
        if manifest.kind != kind or manifest.date != key:
            raise StoreCorruption(path, f"describes {manifest.kind}/{manifest.date}")
        if manifest.span == MONTH and not key.endswith("-01"):
            raise StoreCorruption(path, f"a month partition named {key}")
        if span is not None and manifest.span != span:
            raise StoreCorruption(path, f"a {manifest.span} partition among {span} partitions")
        if manifest.schema_version != contract.SCHEMA_VERSION:
            raise StoreCorruption(
                path,
                f"schema version {manifest.schema_version}, this code reads "
                f"{contract.SCHEMA_VERSION}",
            )
        return manifest

    # -- writing ------------------------------------------------------------------------
    def write(
        self,
        kind: str,
        table: pa.Table,
        *,
        span: str = DAY,
        on_partition: Callable[[date, int], None] | None = None,
    ) -> WriteReport:
        """Store the rows of ``table`` (in ``EVENT_KINDS[kind].arrow_schema()``).

        Rows whose exchange ids are already stored, or repeated in ``table``, are dropped
        (klines: the latest version wins); writing the same table twice changes nothing.
        Raises ``SchemaMismatchError`` naming the column if the schema differs, and
        ``InvalidRowsError`` (nothing written) if any row breaks its contract's rules.

        ``span`` (``DAY`` or ``MONTH``) is the partition span for a kind that has no
        partition yet; a kind that has partitions keeps theirs (``WriteReport.span``).
        Months suit bulk imports of sparse kinds (bars); anything written often, or that
        supersedes rows (open klines), should keep days: a superseding row rewrites its
        whole partition.

        Each partition commits on its own (there is no multi-partition transaction), up to
        ``WRITE_THREADS`` at a time: a partition costs ~5 fsyncs, and waiting for them one
        after another was most of a bulk import's time. ``on_partition(date, rows)`` is
        called in date order, in the calling thread, as each partition is done (for a
        progress bar). If a partition fails, the others still finish and the first error
        is raised.
        """
        check_span(span)
        rows = conform(kind, table)
        rows_in = rows.num_rows
        problems = row_problems(kind, rows)
        if problems:
            raise InvalidRowsError(kind, problems)
        rows = sort_rows(kind, unique_rows(kind, rows))
        written = replaced = 0
        partitions: list[date] = []
        files: list[Path] = []
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOCK_NAME).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # Under the lock, so two writers asking for different spans cannot both be first.
            layout = self._layout(kind)
            layout.check()
            span = layout.span or span
            jobs = _partition_jobs(rows, span)
            if jobs:  # made durable here, not by racing partition threads
                ensure_dir(self._kind_dir(kind))
            with ThreadPoolExecutor(max_workers=max(1, min(WRITE_THREADS, len(jobs)))) as pool:
                futures = [
                    pool.submit(
                        write_partition,
                        kind,
                        key.isoformat(),
                        self._dir(kind, key),
                        part,
                        self._hashes,
                        max_files=self.max_files_per_partition,
                        span=span,
                    )
                    for key, part in jobs
                ]
                for (key, part), future in zip(jobs, futures, strict=True):
                    result = future.result()
                    written += result.added
                    replaced += result.replaced
                    if result.files:
                        partitions.append(key)
                        files.extend(result.files)
                    if on_partition is not None:
                        on_partition(key, part.num_rows)
        return WriteReport(
            kind=kind,
            rows_in=rows_in,
            rows_written=written,
            duplicates=rows_in - written,
            rows_replaced=replaced,
            partitions=tuple(partitions),
            files=tuple(files),
            span=span,
        )

    def write_events(self, events: Iterable[MarketEvent]) -> list[WriteReport]:
        """Group ``events`` by kind and ``write`` each group (one report per kind present,
        in ``KIND_ORDER``), in day partitions for a kind that has none yet."""
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

        Dedup happens per partition on write; a kline whose versions straddle a partition
        boundary (an open update on day D, the closed bar stamped on D+1) is stored in both
        partitions, so for klines this keeps only the winning version across the range read.
        ``iter_events`` replays both versions, as a live feed would have sent them.
        Each partition is read once, whatever the number of days asked of it.
        """
        layout = self._layout(kind)
        layout.check()
        tables = []
        for partition in layout.partitions:
            days = [
                d
                for d in partition.days
                if (start is None or d >= start) and (end is None or d <= end)
            ]
            if days:
                tables.append(
                    self._read_days(kind, partition.path, layout.span, days[0], days[-1], symbols)
                )
        if not tables:
            return contract_schema(kind).empty_table()
        table = pa.concat_tables(tables)
        if kind == "kline" and len(tables) > 1:
            table = unique_rows(kind, table)
        return table

    def _read_day(self, kind: str, day: date, symbols: Sequence[str] | None) -> pa.Table:
        partition = self.partition_path(kind, day)
        return self._read_days(kind, partition, self._span(kind), day, day, symbols)

    def _read_days(
        self,
        kind: str,
        partition: Path,
        span: str | None,
        first: date,
        last: date,
        symbols: Sequence[str] | None,
    ) -> pa.Table:
        """Rows of days [first, last], which lie in ``partition``."""
        manifest = self._manifest_at(kind, partition, span)
        try:
            table = self._read_partition(kind, partition, manifest)
        except StoreCorruption:
            # A concurrent writer may have rewritten the partition (and removed the files
            # this manifest listed) between our manifest read and file reads: retry once.
            latest = self._manifest_at(kind, partition, span)
            if latest == manifest:
                raise
            manifest = latest
            table = self._read_partition(kind, partition, manifest)
        if manifest.span == MONTH:
            table = _within_days(table, first, last)
        if symbols is not None:
            table = table.filter(pc.is_in(table.column("symbol"), pa.array(list(symbols))))
        return table

    def _read_partition(self, kind: str, partition: Path, manifest: Manifest) -> pa.Table:
        """Every row of the partition; the last month read is kept (its files are still
        held against the manifest on every use)."""
        hashes = self._hashes if self.hash_on_read else None
        if manifest.span != MONTH:
            return read_partition(kind, partition, manifest, hashes)
        if self._month is not None and self._month[0] == (partition, manifest):
            for entry in manifest.files:
                check_file(partition / entry.name, entry, hashes, cached=True)
            return self._month[1]
        table = read_partition(kind, partition, manifest, hashes)
        self._month = ((partition, manifest), table)
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
        for day, present in self._days_of(wanted, start, end):
            for kind in present:
                yield kind, self._read_day(kind, day, symbols)

    def windows(
        self,
        kinds: Sequence[str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
        symbols: Sequence[str] | None = None,
        window_s: int = 3600,
    ) -> Iterator[dict[str, pa.Table]]:
        """Every kind's rows a time window at a time: for each day with rows (ascending),
        its windows of ``window_s`` seconds (a divisor of a day) from midnight, each a dict
        of the kinds with rows that day (a table may be empty), rows in ``read``'s order.
        Memory holds a window and one row group per file, not a day
        (``csx_core.store.windows``)."""
        if not isinstance(window_s, int) or window_s <= 0 or NS_PER_DAY % (window_s * SEC):
            raise ValueError(f"window_s must divide a day (86400 s), got {window_s!r}")
        wanted = [k for k in KIND_ORDER if kinds is None or k in kinds]
        hashes = self._hashes if self.hash_on_read else None
        wanted_symbols = None if symbols is None else pa.array(list(symbols), pa.string())
        readers: dict[str, PartitionWindows] = {}
        width = window_s * SEC
        for day, present in self._days_of(wanted, start, end):
            for kind in present:
                path = self.partition_path(kind, day)
                if kind not in readers or readers[kind].partition != path:
                    readers[kind] = self._partition_windows(kind, path, hashes)
            midnight = (day - EPOCH).days * NS_PER_DAY
            for lo in range(midnight, midnight + NS_PER_DAY, width):
                batch = {}
                for kind in present:
                    table = readers[kind].take(lo, lo + width)
                    if wanted_symbols is not None:
                        table = table.filter(pc.is_in(table.column("symbol"), wanted_symbols))
                    batch[kind] = table
                yield batch

    def _partition_windows(
        self, kind: str, partition: Path, hashes: HashCache | None
    ) -> PartitionWindows:
        manifest = self._manifest_at(kind, partition, self._span(kind))
        try:
            return PartitionWindows(kind, partition, manifest, hashes)
        except StoreCorruption:
            # as in ``_read_days``: a concurrent writer may have just rewritten it
            latest = self._manifest_at(kind, partition, self._span(kind))
            if latest == manifest:
                raise
            return PartitionWindows(kind, partition, latest, hashes)

    def _days_of(
        self, kinds: Sequence[str], start: date | None, end: date | None
    ) -> list[tuple[date, list[str]]]:
        """(day, the kinds of ``kinds`` with rows that day), days ascending."""
        by_kind: dict[str, set[date]] = {}
        for kind in kinds:
            layout = self._layout(kind)
            layout.check()
            by_kind[kind] = {
                d
                for d in layout.days()
                if (start is None or d >= start) and (end is None or d <= end)
            }
        days = sorted(set().union(*by_kind.values()))
        return [(d, [k for k in kinds if d in by_kind[k]]) for d in days]

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
        for day, present in self._days_of(wanted, start, end):
            tables = {kind: self._read_day(kind, day, symbols) for kind in present}
            yield from merge_day(tables, batch_rows=batch_rows)

    # -- integrity ----------------------------------------------------------------------
    def verify(self) -> list[StoreCorruption]:
        """Every problem in committed partitions: unreadable manifests, missing, resized,
        altered (SHA-256) or unreadable files, row counts or schemas that differ, and a kind
        directory holding both day and month partitions. Empty when healthy. Orphan files
        (see ``orphans``) are not corruption."""
        problems: list[StoreCorruption] = []
        for kind in KIND_ORDER:
            layout = self._layout(kind)
            if layout.problem is not None:
                problems.append(layout.problem)
            for partition in layout.partitions:
                try:
                    manifest = self._manifest_at(kind, partition.path)
                except StoreCorruption as exc:
                    if exc not in problems:
                        problems.append(exc)
                    continue
                problems += _file_problems(kind, partition.path, manifest, self._hashes)
        return problems

    def orphans(self) -> list[Path]:
        """Files in partition directories that no manifest lists: temp files of a crashed
        write, or files superseded by a rewrite. Readers ignore them."""
        found: list[Path] = []
        for kind in KIND_ORDER:
            kind_dir = self._kind_dir(kind)
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
        """Paths of every manifest-listed file of ``kind``, by partition date, each once.
        ``checked``: each file is first held against its manifest entry (size, and SHA-256
        when ``hash_on_read``), raising ``StoreCorruption`` naming it, so a reader that
        goes to the files directly (DuckDB) never reads a corrupt one silently."""
        hashes = self._hashes if self.hash_on_read else None
        layout = self._layout(kind)
        layout.check()
        files: list[Path] = []
        for partition in layout.partitions:
            for entry in self._manifest_at(kind, partition.path, layout.span).files:
                if checked:
                    check_file(partition.path / entry.name, entry, hashes, cached=True)
                files.append(partition.path / entry.name)
        return files


def _partition_jobs(rows: pa.Table, span: str) -> list[tuple[date, pa.Table]]:
    """(partition date, its rows) of ``rows`` (sorted by ts_event), dates ascending."""
    days = partition_days(rows)  # ascending: rows are sorted by ts_event (days >= 0)
    day_starts = np.flatnonzero(np.diff(days, prepend=-1))
    keys = partition_key_days(span, days[day_starts])  # a few thousand, not every row
    firsts = np.flatnonzero(np.diff(keys, prepend=-1))
    bounds = [*day_starts[firsts].tolist(), rows.num_rows]
    return [
        (EPOCH + timedelta(days=key), rows.slice(lo, hi - lo))
        for key, lo, hi in zip(keys[firsts].tolist(), bounds[:-1], bounds[1:], strict=True)
    ]


def _file_problems(
    kind: str, partition: Path, manifest: Manifest, hashes: HashCache
) -> list[StoreCorruption]:
    """What is wrong with the files ``manifest`` lists (hashed afresh)."""
    problems: list[StoreCorruption] = []
    for entry in manifest.files:
        path = partition / entry.name
        try:
            check_file(path, entry, hashes, cached=False)
            meta = pq.read_metadata(path)
            if meta.num_rows != entry.rows:
                raise StoreCorruption(path, f"{meta.num_rows} rows, manifest says {entry.rows}")
            conform(kind, meta.schema.to_arrow_schema().empty_table())
        except StoreCorruption as exc:
            problems.append(exc)
        except (OSError, ValueError, pa.ArrowException) as exc:
            problems.append(StoreCorruption(path, f"unreadable Parquet: {exc}"))
    return problems


def _within_days(table: pa.Table, first: date, last: date) -> pa.Table:
    """The rows of ``table`` (sorted by ts_event) on UTC days [first, last]: a zero-copy
    slice found by binary search."""
    ts = np.asarray(table.column("ts_event").to_numpy(), dtype=np.int64)
    lo_ns = (first - EPOCH).days * NS_PER_DAY
    hi_ns = ((last - EPOCH).days + 1) * NS_PER_DAY
    lo, hi = np.searchsorted(ts, [lo_ns, hi_ns], side="left").tolist()
    return table.slice(lo, hi - lo)


__all__ = ["EventStore", "WriteReport", "events_table"]
