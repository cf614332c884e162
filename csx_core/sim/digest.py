"""SHA-256 digest that proves two runs (or two encodings) produced the same event tables."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from csx_core.contracts import EVENT_KINDS


def tables_digest(tables: Mapping[str, pa.Table]) -> str:
    """Digest of per-kind tables (kinds in contract order): schema, row count and every
    column's values and null mask, independent of how the columns are chunked."""
    h = hashlib.sha256()
    for kind in EVENT_KINDS:
        table = tables.get(kind)
        if table is None:
            continue
        h.update(f"{kind}\n{table.schema}\n{table.num_rows}\n".encode())
        for column in table.columns:
            h.update(_column_bytes(column))
    return h.hexdigest()


def _column_bytes(column: pa.ChunkedArray) -> bytes:
    nulls = np.asarray(column.is_null().to_numpy(zero_copy_only=False), np.bool_)
    if pa.types.is_string(column.type):
        encoded = pc.dictionary_encode(column.fill_null("")).combine_chunks()
        indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64)
        words = "\x00".join(encoded.dictionary.to_pylist()).encode()
        return nulls.tobytes() + indices.tobytes() + words
    values = np.ascontiguousarray(column.to_numpy())
    return nulls.tobytes() + values.tobytes()
