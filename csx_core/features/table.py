"""The wide training table and the canonical digest of a snapshot stream.

Wide table (what training reads; keep it exactly): columns ``symbol`` (string), ``ts``
(int64 ns tick), ``warm`` (bool), ``gap`` (bool), the ``PRICE_COLUMNS`` (float64, not model
features), then every model feature in ``FEATURE_NAMES`` order (float64); schema metadata
``csx.feature_version`` and ``csx.feature_names`` (JSON list). Rows are ordered by
(ts, symbol).

Digest (SHA-256, hex) of a snapshot stream, defined over what a ``FeatureSnapshot`` holds
(price columns are not part of it): the header ``csx-feature-digest/1\\n<version>\\n<names
as compact JSON>\\n``, then per tick in time order: ``ts`` as int64 little-endian, the row
count as uint32 LE, the symbols (sorted) joined and terminated by ``\\n`` (UTF-8), ``warm``
and ``gap`` as one byte each per row, and the values as float64 LE in row-major order with
every NaN written as the quiet NaN ``0x7ff8000000000000``. A tick with no rows adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby

import numpy as np
import pyarrow as pa

from csx_core.contracts import FeatureSnapshot
from csx_core.features.batch import TickBatch
from csx_core.features.names import FEATURE_NAMES, FEATURE_VERSION, PRICE_COLUMNS
from csx_core.features.tick import TickFrame

DIGEST_HEADER = (
    f"csx-feature-digest/1\n{FEATURE_VERSION}\n"
    f"{json.dumps(list(FEATURE_NAMES), separators=(',', ':'))}\n"
).encode()


def wide_schema() -> pa.Schema:
    fields = [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("ts", pa.int64(), nullable=False),
        pa.field("warm", pa.bool_(), nullable=False),
        pa.field("gap", pa.bool_(), nullable=False),
    ]
    fields += [pa.field(c, pa.float64()) for c in PRICE_COLUMNS]
    fields += [pa.field(c, pa.float64()) for c in FEATURE_NAMES]
    return pa.schema(
        fields,
        metadata={
            b"csx.feature_version": FEATURE_VERSION.encode(),
            b"csx.feature_names": json.dumps(list(FEATURE_NAMES)).encode(),
        },
    )


WIDE_SCHEMA = wide_schema()
WIDE_DICTIONARY_COLUMNS = ["symbol"]
"""The wide table's columns written dictionary-encoded (``use_dictionary``): only the
symbol. A float column's dictionary overflows (nearly every value differs) after it has
cost most of the write: 250k rows of 88 columns encode in 1.00 s with every column tried,
0.35 s with the symbol alone, and the file is smaller (67.9 MB, not 73.5)."""


def _wide(
    symbols: list[str] | pa.Array,
    ts: np.ndarray,
    warm: np.ndarray,
    gap: np.ndarray,
    px: np.ndarray,
    v: np.ndarray,
) -> pa.Table:
    """The wide table; ``px`` and ``v`` column-major, (columns, rows): each column is then
    handed to Arrow without a copy."""
    columns: list[pa.Array] = [
        pa.array(symbols, pa.string()),
        pa.array(ts),
        pa.array(warm),
        pa.array(gap),
    ]
    columns += [pa.array(column) for column in px]
    columns += [pa.array(column) for column in v]
    return pa.Table.from_arrays(columns, schema=WIDE_SCHEMA)


def _column_major(blocks: Sequence[np.ndarray], width: int) -> np.ndarray:
    """Row blocks (..., width) stacked and transposed to (width, rows). One block at a time
    stays in cache: 0.08 s for 250k x 88, where transposing the stacked rows took 0.5 s and
    slicing each column out of them 0.9 s."""
    sizes = [b.size // width for b in blocks]
    out = np.empty((width, sum(sizes)))
    at = 0
    for block, size in zip(blocks, sizes, strict=True):
        out[:, at : at + size] = block.reshape(size, width).T
        at += size
    return out


def frames_to_table(frames: Sequence[TickFrame]) -> pa.Table:
    """Stack tick frames into one wide table."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return WIDE_SCHEMA.empty_table()
    return _wide(
        [s for f in frames for s in f.symbols],
        np.concatenate([np.full(len(f), f.ts, np.int64) for f in frames]),
        np.concatenate([f.warm for f in frames]),
        np.concatenate([f.gap for f in frames]),
        _column_major([f.prices for f in frames], len(PRICE_COLUMNS)),
        _column_major([f.values for f in frames], len(FEATURE_NAMES)),
    )


def batches_to_table(batches: Sequence[TickBatch]) -> pa.Table:
    """Stack tick batches into one wide table; equals ``frames_to_table`` of their frames."""
    batches = [b for b in batches if len(b) and len(b.symbols)]
    if not batches:
        return WIDE_SCHEMA.empty_table()
    return _wide(
        _symbol_column(batches),
        np.concatenate([np.repeat(b.ts, len(b.symbols)) for b in batches]),
        np.concatenate([b.warm.reshape(-1) for b in batches]),
        np.concatenate([b.gap.reshape(-1) for b in batches]),
        _column_major([b.prices for b in batches], len(PRICE_COLUMNS)),
        _column_major([b.values for b in batches], len(FEATURE_NAMES)),
    )


def _symbol_column(batches: Sequence[TickBatch]) -> pa.Array:
    """Every row's symbol, built by Arrow from the batches' few names (a Python list of one
    string per row took 1.8 s of a 1.7 M-row day)."""
    code: dict[str, int] = {}
    for b in batches:
        for s in b.symbols:
            code.setdefault(s, len(code))
    indices = np.concatenate(
        [np.tile(np.array([code[s] for s in b.symbols], np.int32), len(b)) for b in batches]
    )
    return pa.array(list(code), pa.string()).take(pa.array(indices))


def frames_of_table(table: pa.Table) -> Iterator[TickFrame]:
    """The tick frames of a wide table (rows ordered by ts, symbol)."""
    if table.num_rows == 0:
        return
    ts = table.column("ts").to_numpy()
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    ends = np.r_[starts[1:], len(ts)]
    symbols = table.column("symbol").to_pylist()
    warm = table.column("warm").to_numpy(zero_copy_only=False)
    gap = table.column("gap").to_numpy(zero_copy_only=False)
    prices = np.column_stack([table.column(c).to_numpy() for c in PRICE_COLUMNS])
    values = np.column_stack([table.column(c).to_numpy() for c in FEATURE_NAMES])
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        yield TickFrame(int(ts[a]), symbols[a:b], warm[a:b], gap[a:b], prices[a:b], values[a:b])


class SnapshotDigest:
    """Incremental SHA-256 of a snapshot stream (definition in the module docstring)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256(DIGEST_HEADER)
        self.ticks = 0
        self.rows = 0

    def update_arrays(
        self,
        ts: int,
        symbols: Sequence[str],
        warm: np.ndarray,
        gap: np.ndarray,
        values: np.ndarray,
    ) -> None:
        if not len(symbols):
            return
        h = self._h
        h.update(np.int64(ts).astype("<i8").tobytes())
        h.update(np.uint32(len(symbols)).astype("<u4").tobytes())
        h.update(("\n".join(symbols) + "\n").encode())
        h.update(np.asarray(warm, np.uint8).tobytes())
        h.update(np.asarray(gap, np.uint8).tobytes())
        v = np.asarray(values, dtype="<f8")
        h.update(np.where(np.isnan(v), np.nan, v).astype("<f8").tobytes())
        self.ticks += 1
        self.rows += len(symbols)

    def update_batch(self, batch: TickBatch) -> None:
        """Every tick of ``batch`` at once: the bytes ``update`` would hash tick by tick,
        laid out as one packed record per tick and hashed in one call."""
        rows, ticks = len(batch.symbols), len(batch)
        if not rows or not ticks:
            return
        text = np.frombuffer(("\n".join(batch.symbols) + "\n").encode(), np.uint8)
        record = np.dtype(
            [
                ("ts", "<i8"),
                ("rows", "<u4"),
                ("symbols", "u1", (len(text),)),
                ("warm", "u1", (rows,)),
                ("gap", "u1", (rows,)),
                ("values", "<f8", batch.values.shape[1:]),
            ]
        )
        out = np.empty(ticks, record)
        out["ts"], out["rows"], out["symbols"] = batch.ts, rows, text
        out["warm"], out["gap"] = batch.warm, batch.gap
        from csx_core.features import kernels  # on first use: the live path never imports numba

        kernels.canonical_copy(batch.values, out["values"])
        self._h.update(out.view(np.uint8).data)
        self.ticks += ticks
        self.rows += ticks * rows

    def update(self, frame: TickFrame) -> None:
        self.update_arrays(frame.ts, frame.symbols, frame.warm, frame.gap, frame.values)

    def update_snapshots(self, snapshots: Iterable[FeatureSnapshot]) -> None:
        """Snapshots of whole ticks, in time order (any order within a tick)."""
        for ts, group in groupby(snapshots, key=lambda s: s.ts):
            rows = sorted(group, key=lambda s: s.symbol)
            self.update_arrays(
                ts,
                [r.symbol for r in rows],
                np.array([r.warm for r in rows]),
                np.array([r.gap for r in rows]),
                np.array([r.values for r in rows], dtype=np.float64),
            )

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def digest_frames(frames: Iterable[TickFrame]) -> str:
    d = SnapshotDigest()
    for f in frames:
        d.update(f)
    return d.hexdigest()


def digest_table(table: pa.Table) -> str:
    """The digest of a wide table; equals the digest of the snapshots it was made from."""
    return digest_frames(frames_of_table(table))
