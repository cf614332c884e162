"""Per-kind identity and order of stored rows, and the vectorised dedup that uses them.

An exchange event is identified by its exchange ids (``DEDUP_KEYS``); rows of a partition
are totally ordered by ``SORT_KEYS`` (``ts_event`` first, then symbol, then the ids), so the
same set of events always reads back in the same order whatever batches it was written in.
Both come from the kind's descriptor (``csx_core.contracts.DESCRIPTORS``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from csx_core.contracts import DESCRIPTORS, EVENT_KINDS
from csx_core.contracts import KIND_ORDER as KIND_ORDER  # re-exported: the store's kind order
from csx_core.store.errors import SchemaMismatchError

NS_PER_DAY = 86_400 * 1_000_000_000

DEDUP_KEYS: dict[str, tuple[str, ...]] = {k: d.dedup_keys for k, d in DESCRIPTORS.items()}
SORT_KEYS: dict[str, tuple[str, ...]] = {k: d.sort_keys for k, d in DESCRIPTORS.items()}

IntArray = npt.NDArray[np.int64]


def contract_schema(kind: str) -> pa.Schema:
    try:
        return EVENT_KINDS[kind].arrow_schema()
    except KeyError:
        raise ValueError(f"unknown event kind {kind!r}; expected one of {KIND_ORDER}") from None


def conform(kind: str, table: pa.Table) -> pa.Table:
    """``table`` in the contract's exact schema (column order, types, metadata).

    Raises ``SchemaMismatchError`` naming the first offending column. Nullable input columns are
    accepted when they hold no nulls, so tables built from plain arrays need no ceremony.
    """
    schema = contract_schema(kind)
    present = set(table.schema.names)
    for name in table.schema.names:
        if schema.get_field_index(name) < 0:
            raise SchemaMismatchError(
                kind, name, f"unexpected column (contract has {schema.names})"
            )
    for field in schema:
        if field.name not in present:
            raise SchemaMismatchError(kind, field.name, "missing column")
        got = table.schema.field(field.name).type
        if got != field.type:
            raise SchemaMismatchError(
                kind, field.name, f"has type {got}, contract says {field.type}"
            )
        if not field.nullable and table.column(field.name).null_count:
            raise SchemaMismatchError(kind, field.name, "holds nulls but is not nullable")
    columns = [table.column(name) for name in schema.names]
    return pa.Table.from_arrays(columns, schema=schema)


def sort_rows(kind: str, table: pa.Table) -> pa.Table:
    if table.num_rows < 2 or _is_sorted(kind, table):
        return table
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in SORT_KEYS[kind]])
    return table.take(order)


def _ordered(column: pa.ChunkedArray) -> npt.NDArray[Any]:
    """A numpy view of ``column`` whose order matches the column's (strings → ranks)."""
    if pa.types.is_string(column.type):
        encoded = pc.dictionary_encode(column).combine_chunks()
        rank = np.argsort(np.argsort(np.asarray(encoded.dictionary.to_pylist(), dtype=object)))
        return np.asarray(rank[encoded.indices.to_numpy(zero_copy_only=False)], dtype=np.int64)
    return np.asarray(column.to_numpy())


def _is_sorted(kind: str, table: pa.Table) -> bool:
    """Already in ``SORT_KEYS`` order (as a writer that builds rows in order hands them
    over): a few comparisons instead of a multi-key sort and a copy of every column."""
    decided = np.zeros(table.num_rows - 1, dtype=np.bool_)  # pairs ordered by an earlier key
    for name in SORT_KEYS[kind]:
        key = _ordered(table.column(name))
        before, after = key[:-1], key[1:]
        if bool(np.any(~decided & (after < before))):
            return False
        decided |= after > before
    return True


def _numeric(column: pa.ChunkedArray) -> npt.NDArray[np.generic]:
    """A numpy view of ``column`` whose equality matches the column's (strings → codes)."""
    if pa.types.is_string(column.type):
        encoded = pc.dictionary_encode(column).combine_chunks()
        return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.asarray(column.to_numpy())


def unique_mask(kind: str, table: pa.Table) -> npt.NDArray[np.bool_]:
    """True for the row that represents each dedup key.

    The first occurrence wins, unless the kind names ``newest_wins`` columns: then the row
    with the largest of them wins (klines: a closed bar beats an open one, then the larger
    ``ts_event``, then ``ts_recv``); exact ties keep the first occurrence. Dedup is exact (a
    lexicographic sort, no hashing).
    """
    n = table.num_rows
    if n < 2:
        return np.ones(n, dtype=np.bool_)
    descriptor = DESCRIPTORS[kind]
    keys = [_numeric(table.column(k)) for k in descriptor.dedup_keys]
    position = np.arange(n, dtype=np.int64)
    rank: list[npt.NDArray[np.generic]] = [position]
    rank += [
        -np.asarray(table.column(k).to_numpy(), dtype=np.int64)
        for k in reversed(descriptor.newest_wins)
    ]
    order = np.lexsort((*rank, *reversed(keys)))
    new_group = np.zeros(n, dtype=np.bool_)
    new_group[0] = True
    for key in keys:
        ordered = key[order]
        new_group[1:] |= ordered[1:] != ordered[:-1]
    mask = np.zeros(n, dtype=np.bool_)
    mask[order[new_group]] = True
    return mask


def absent_from(kind: str, table: pa.Table, existing: pa.Table) -> npt.NDArray[np.bool_]:
    """True for rows of ``table`` whose dedup key does not occur in ``existing``.

    An ``np.isin`` on the integer id column first narrows both sides to the rows whose id
    occurs on the other side (usually none when appending new data), and the exact
    multi-column anti-join runs only on those.
    """
    keys = list(DEDUP_KEYS[kind])
    absent = np.ones(table.num_rows, dtype=np.bool_)
    if existing.num_rows == 0 or table.num_rows == 0:
        return absent
    id_column = next(k for k in keys if pa.types.is_integer(table.schema.field(k).type))
    new_ids = table.column(id_column).to_numpy()
    old_ids = existing.column(id_column).to_numpy()
    candidates = np.flatnonzero(np.isin(new_ids, old_ids))
    if candidates.size == 0:
        return absent
    rivals = existing.filter(pa.array(np.isin(old_ids, new_ids[candidates])))
    probe = (
        table.select(keys).take(pa.array(candidates)).append_column("__row", pa.array(candidates))
    )
    kept = probe.join(rivals.select(keys), keys=keys, join_type="left anti")
    absent[candidates] = False
    absent[kept.column("__row").to_numpy()] = True
    return absent


def partition_days(table: pa.Table) -> IntArray:
    """UTC day number (days since 1970-01-01) of each row's ``ts_event``."""
    ts = table.column("ts_event").to_numpy()
    return np.asarray(ts // NS_PER_DAY, dtype=np.int64)
