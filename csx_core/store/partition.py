"""Reading and writing one partition (one kind, one UTC day or month) under its manifest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from csx_core.contracts import EVENT_KINDS
from csx_core.store.atomic import ensure_dir, write_atomic
from csx_core.store.errors import SchemaMismatchError, StoreCorruption
from csx_core.store.keys import (
    DEDUP_KEYS,
    absent_from,
    conform,
    partition_days,
    sort_rows,
    unique_mask,
)
from csx_core.store.layout import DAY, day_numbers_to_iso
from csx_core.store.manifest import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    load_manifest,
    save_manifest,
)

PARQUET_COMPRESSION = "zstd"
assert all("symbol" in keys for keys in DEDUP_KEYS.values()), "the disjoint-symbols shortcut"
ROW_GROUP_ROWS = 65_536
"""Rows per Parquet row group: what a windowed read (``csx_core.store.windows``) decodes at
once per file, instead of the writer's default of a million rows."""
"""Dictionary encoding only for string columns (symbol, interval, side, status): trying it
on high-cardinality numbers made encoding ~3x slower for ~10 % smaller files."""


@dataclass(frozen=True)
class PartitionWrite:
    """What one write did to one partition."""

    added: int
    duplicates: int
    replaced: int
    files: tuple[Path, ...]


class HashCache:
    """SHA-256 results keyed by (path, size, mtime_ns), so repeated reads of an unchanged
    file skip re-hashing. ``EventStore.verify`` bypasses it."""

    def __init__(self) -> None:
        self._seen: dict[tuple[Path, int, int], str] = {}

    def digest(self, path: Path, *, use_cache: bool) -> str:
        stat = path.stat()
        key = (path, stat.st_size, stat.st_mtime_ns)
        if use_cache and key in self._seen:
            return self._seen[key]
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        self._seen[key] = digest
        return digest

    def remember(self, path: Path, digest: str) -> None:
        """Record the digest of a file this process just wrote."""
        stat = path.stat()
        self._seen[(path, stat.st_size, stat.st_mtime_ns)] = digest


def check_file(path: Path, entry: FileEntry, hashes: HashCache | None, *, cached: bool) -> None:
    """Raise ``StoreCorruption`` naming ``path`` unless it exists with the listed size and
    (when ``hashes`` is given) SHA-256."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise StoreCorruption(path, "listed in the manifest but missing") from None
    if size != entry.bytes:
        raise StoreCorruption(path, f"size {size} bytes, manifest says {entry.bytes}")
    if hashes is not None and hashes.digest(path, use_cache=cached) != entry.sha256:
        raise StoreCorruption(path, "SHA-256 differs from the manifest")


def read_file(kind: str, path: Path, entry: FileEntry, columns: list[str] | None) -> pa.Table:
    try:
        with pq.ParquetFile(path) as parquet:
            table = parquet.read(columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise StoreCorruption(path, f"unreadable Parquet: {exc}") from exc
    if table.num_rows != entry.rows:
        raise StoreCorruption(path, f"{table.num_rows} rows, manifest says {entry.rows}")
    if columns is None:
        try:
            table = conform(kind, table)
        except SchemaMismatchError as exc:
            raise StoreCorruption(path, f"schema differs from the contract: {exc}") from exc
    return table


def read_partition(
    kind: str,
    partition: Path,
    manifest: Manifest,
    hashes: HashCache | None,
    *,
    columns: list[str] | None = None,
) -> pa.Table:
    """Every row the manifest lists, in the partition's sort order."""
    tables = []
    for entry in manifest.files:
        path = partition / entry.name
        check_file(path, entry, hashes, cached=True)
        tables.append(read_file(kind, path, entry, columns))
    if not tables:
        schema = EVENT_KINDS[kind].arrow_schema()
        return schema.empty_table() if columns is None else schema.empty_table().select(columns)
    table = pa.concat_tables(tables)
    disjoint = all(a.ts_max < b.ts_min for a, b in pairwise(manifest.files))
    if not disjoint and columns is None:
        table = sort_rows(kind, table)
    return table


def _symbols(table: pa.Table) -> set[str]:
    return set(pc.unique(table.column("symbol")).to_pylist())


def _stored_symbols(partition: Path, manifest: Manifest, hashes: HashCache) -> set[str]:
    """The symbols a partition holds, from its files' dictionary pages (the symbol column is
    dictionary-encoded, so this decodes indices, not strings): an append of other symbols (a
    market written a block of symbols at a time) skips reading the stored keys, which made
    each block's write cost grow with the blocks before it."""
    out: set[str] = set()
    for entry in manifest.files:
        path = partition / entry.name
        check_file(path, entry, hashes, cached=True)
        try:
            column = pq.read_table(path, columns=["symbol"], read_dictionary=["symbol"])
        except (OSError, pa.ArrowException) as exc:
            raise StoreCorruption(path, f"unreadable Parquet: {exc}") from exc
        for chunk in column.column("symbol").chunks:
            out.update(chunk.dictionary.to_pylist())
    return out


def _encode(table: pa.Table) -> tuple[bytes, FileEntry]:
    sink = pa.BufferOutputStream()
    strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
    pq.write_table(
        table,
        sink,
        compression=PARQUET_COMPRESSION,
        use_dictionary=strings,
        row_group_size=ROW_GROUP_ROWS,
    )
    data = sink.getvalue().to_pybytes()
    digest = hashlib.sha256(data).hexdigest()
    ts = table.column("ts_event")
    entry = FileEntry(
        name=f"part-{digest[:20]}.parquet",
        rows=table.num_rows,
        bytes=len(data),
        sha256=digest,
        ts_min=int(ts[0].as_py()),
        ts_max=int(ts[-1].as_py()),
    )
    return data, entry


def write_partition(
    kind: str,
    key: str,
    partition: Path,
    rows: pa.Table,
    hashes: HashCache,
    *,
    max_files: int,
    span: str = DAY,
) -> PartitionWrite:
    """Merge ``rows`` (conformed, sorted, unique within themselves) into the partition named
    ``key`` (its date; a month's first day for ``span`` month).

    New keys are appended as one new file; if a kline supersedes a stored version, or the
    partition would exceed ``max_files`` files, the partition is rewritten as one file. The
    manifest is replaced last, so a crash leaves the previous state readable.
    """
    ensure_dir(partition)
    manifest = load_manifest(partition)
    if manifest is not None and manifest.span != span:
        # The store picks the span its partitions already have; this guards the invariant.
        raise StoreCorruption(
            partition / MANIFEST_NAME, f"a {manifest.span} partition written as a {span} one"
        )
    old_files = manifest.files if manifest else ()
    existing: pa.Table | None = None
    replaced = 0
    if manifest is None or not manifest.files:
        fresh = rows
    elif kind == "kline":
        existing = read_partition(kind, partition, manifest, hashes)
        combined = pa.concat_tables([existing, rows])
        keep = unique_mask(kind, combined)
        replaced = int((~keep[: existing.num_rows]).sum())
        fresh = rows.filter(pa.array(keep[existing.num_rows :]))
        if replaced:
            existing = existing.filter(pa.array(keep[: existing.num_rows]))
    elif _stored_symbols(partition, manifest, hashes).isdisjoint(_symbols(rows)):
        fresh = rows  # every dedup key names a symbol: none of these can be stored yet
    else:
        stored_keys = read_partition(
            kind, partition, manifest, hashes, columns=list(DEDUP_KEYS[kind])
        )
        fresh = rows.filter(pa.array(absent_from(kind, rows, stored_keys)))
    duplicates = rows.num_rows - fresh.num_rows
    if fresh.num_rows == 0 and not replaced:
        return PartitionWrite(0, duplicates, 0, ())

    rewrite = replaced > 0 or len(old_files) + 1 > max_files
    if rewrite:
        if existing is None:
            assert manifest is not None
            existing = read_partition(kind, partition, manifest, hashes)
        path = commit_partition(
            kind,
            key,
            partition,
            sort_rows(kind, pa.concat_tables([existing, fresh])),
            hashes,
            span=span,
            replacing=old_files,
        )
    else:
        days = manifest.days if manifest is not None else ()
        path = commit_partition(
            kind, key, partition, fresh, hashes, span=span, kept=old_files, kept_days=days
        )
    return PartitionWrite(fresh.num_rows, duplicates, replaced, (path,))


def commit_partition(
    kind: str,
    key: str,
    partition: Path,
    table: pa.Table,
    hashes: HashCache,
    *,
    span: str,
    kept: tuple[FileEntry, ...] = (),
    kept_days: tuple[str, ...] = (),
    replacing: tuple[FileEntry, ...] = (),
) -> Path:
    """Write ``table`` (sorted) as one new file of the partition and commit a manifest
    listing it plus ``kept`` (whose rows cover ``kept_days``); then delete the
    ``replacing`` files. The manifest rename is the commit point: a crash before it leaves
    the previous manifest and its files in place, one after it leaves only orphans."""
    data, entry = _encode(table)
    path = partition / entry.name
    write_atomic(path, data)
    hashes.remember(path, entry.sha256)
    files = tuple(sorted((*kept, entry), key=lambda f: (f.ts_min, f.ts_max, f.name)))
    contract = EVENT_KINDS[kind]
    days: tuple[str, ...] = ()
    if span != DAY:
        new_days = day_numbers_to_iso(partition_days(table))
        days = tuple(sorted({*kept_days, *new_days}))
    save_manifest(
        partition,
        Manifest(
            kind=kind,
            date=key,
            contract=contract.__name__,
            schema_version=contract.SCHEMA_VERSION,
            files=files,
            span=span,
            days=days,
        ),
    )
    for old in replacing:
        if old.name != entry.name:
            (partition / old.name).unlink(missing_ok=True)
    return path


def unique_rows(kind: str, table: pa.Table) -> pa.Table:
    """``table`` without repeated dedup keys (see ``keys.unique_mask``)."""
    mask = unique_mask(kind, table)
    return table if bool(np.all(mask)) else table.filter(pa.array(mask))
