"""CSV bytes → typed column chunks, with the physical line number of every row.

Fast path: pyarrow's streaming CSV reader, strict (no nulls, no empty lines, no ragged
rows). Any irregularity makes it give up (``NeedsSlowPath``) and the file is re-read with
Python's ``csv`` module, which reports each bad row with its line and skips it. Writes are
idempotent, so chunks the fast path already stored are simply duplicates the second time.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv

from csx_core.archive.formats import CsvFormat

ProgressFn = Callable[[int], None]
"""Called with the number of (uncompressed) bytes consumed so far in the current source."""


class NeedsSlowPath(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """The fast reader met something only the line-by-line reader can report precisely."""


class FormatError(ValueError):
    """A whole file that cannot be read as the expected format (e.g. a foreign header)."""


@dataclass(frozen=True)
class BadRow:
    """A skipped input row: ``source`` is the file (``archive.zip:member.csv`` for zips),
    ``line`` its 1-based physical line number."""

    source: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.problem}"


@dataclass(frozen=True)
class Chunk:
    table: pa.Table  # the format's columns and types
    lines: npt.NDArray[np.int64]


@dataclass(frozen=True)
class Source:
    """One CSV stream inside an input file (a zip may hold several)."""

    label: str
    size: int | None  # uncompressed bytes when known, for progress
    open: Callable[[ExitStack], IO[bytes]]


def sources(path: Path) -> list[Source]:
    """The CSV streams of ``path`` (``.zip`` members, ``.gz`` or plain ``.csv``)."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist() if i.filename.endswith(".csv")]
        if not members:
            raise FormatError(f"{path}: zip holds no .csv member")

        def opener(name: str) -> Callable[[ExitStack], IO[bytes]]:
            def open_member(stack: ExitStack) -> IO[bytes]:
                zf = stack.enter_context(zipfile.ZipFile(path))
                return stack.enter_context(zf.open(name))

            return open_member

        return [Source(f"{path}:{m.filename}", m.file_size, opener(m.filename)) for m in members]
    if path.suffix == ".gz":

        def open_gzip(stack: ExitStack) -> IO[bytes]:
            raw = stack.enter_context(path.open("rb"))
            return stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))  # type: ignore[arg-type]

        # progress counts compressed bytes (see _Counting), so the total is the file size
        return [Source(str(path), path.stat().st_size, open_gzip)]
    return [
        Source(str(path), path.stat().st_size, lambda stack: stack.enter_context(path.open("rb")))
    ]


class _Counting(io.RawIOBase):
    """A read-only stream that reports how many bytes were read through it."""

    def __init__(self, inner: IO[bytes], progress: ProgressFn | None) -> None:
        self._inner = inner
        self._progress = progress
        self.consumed = 0
        # a gzip stream reports the compressed bytes read: its size is all that is known
        self._compressed: IO[bytes] | None = getattr(inner, "fileobj", None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.consumed += n
        if self._progress is not None:
            compressed = self._compressed
            self._progress(self.consumed if compressed is None else compressed.tell())
        return n


HEADER_SHOWN = 3
"""Header fields quoted in an error: a foreign first line can be a 60 kB JSON frame."""


def has_header(first_line: bytes, fmt: CsvFormat) -> bool:
    """True when the first line is a header row; raises ``FormatError`` for a header that
    is not the format's (quoting only its first fields, each cut short)."""
    text = first_line.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    first = text.split(",", 1)[0].strip()
    try:
        int(first)
    except ValueError:
        names = [n.strip() for n in text.split(",")]
        if names != fmt.names:
            shown = [n if len(n) <= 24 else n[:23] + "…" for n in names[:HEADER_SHOWN]]
            more = f" + {len(names) - HEADER_SHOWN} more" if len(names) > HEADER_SHOWN else ""
            raise FormatError(
                f"first line is not a {fmt.name} header or row: it starts {shown}{more}, "
                f"expected {fmt.names}"
            ) from None
        return True
    return False


def _first_line(source: Source) -> bytes:
    with ExitStack() as stack:
        return source.open(stack).readline(65_536)


def read_chunks(
    source: Source,
    fmt: CsvFormat,
    *,
    chunk_rows: int,
    slow: bool,
    bad: Callable[[BadRow], None],
    progress: ProgressFn | None = None,
) -> Iterator[Chunk]:
    """Typed chunks of ``source``; with ``slow=False`` may raise ``NeedsSlowPath`` (after
    yielding some chunks) when the file has irregular rows."""
    header = has_header(_first_line(source), fmt)
    with ExitStack() as stack:
        stream = _Counting(source.open(stack), progress)
        if slow:
            yield from _slow_chunks(source.label, stream, fmt, header, chunk_rows, bad)
        else:
            yield from _fast_chunks(stream, fmt, header, chunk_rows)


def _fast_chunks(
    stream: io.RawIOBase, fmt: CsvFormat, header: bool, chunk_rows: int
) -> Iterator[Chunk]:
    read_options = pa_csv.ReadOptions(
        column_names=fmt.names,
        skip_rows=1 if header else 0,
        block_size=max(1 << 20, chunk_rows * 64),
        use_threads=False,
    )
    parse_options = pa_csv.ParseOptions(ignore_empty_lines=False)
    convert_options = pa_csv.ConvertOptions(
        column_types=dict(fmt.columns),
        include_columns=[n for n in fmt.names if n not in fmt.unused],
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    line = 2 if header else 1
    try:
        reader = pa_csv.open_csv(
            io.BufferedReader(stream, 1 << 20),
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        for batch in reader:
            if batch.num_rows == 0:
                continue
            table = pa.Table.from_batches([batch])
            yield Chunk(table, np.arange(line, line + batch.num_rows, dtype=np.int64))
            line += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise NeedsSlowPath(str(exc)) from exc


_TRUE = {"true": True, "false": False, "1": True, "0": False}


def _parse_bool(text: str) -> bool:
    try:
        return _TRUE[text.strip().lower()]
    except KeyError:
        raise ValueError(f"{text!r} is not a boolean") from None


def _parse_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"{text!r} does not fit in int64")
    return value


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _converter(kind: pa.DataType) -> Callable[[str], object]:
    if pa.types.is_integer(kind):
        return _parse_int
    if pa.types.is_floating(kind):
        return _parse_float
    if pa.types.is_boolean(kind):
        return _parse_bool
    return str


def _slow_chunks(
    label: str,
    stream: io.RawIOBase,
    fmt: CsvFormat,
    header: bool,
    chunk_rows: int,
    bad: Callable[[BadRow], None],
) -> Iterator[Chunk]:
    text = io.TextIOWrapper(
        io.BufferedReader(stream), encoding="utf-8", errors="replace", newline=""
    )
    reader = csv.reader(text)
    converters = [(name, _converter(kind)) for name, kind in fmt.columns]
    width = len(converters)
    columns: list[list[object]] = [[] for _ in converters]
    lines: list[int] = []
    if header:
        next(reader, None)
    for row in reader:
        line = reader.line_num
        if len(row) != width:
            problem = "empty line" if not row else f"expected {width} fields, got {len(row)}"
            bad(BadRow(label, line, problem))
            continue
        values: list[object] = []
        for (name, convert), field in zip(converters, row, strict=True):
            try:
                values.append(convert(field.strip()))
            except ValueError as exc:
                bad(BadRow(label, line, f"{name}: {exc}"))
                break
        else:
            for column, value in zip(columns, values, strict=True):
                column.append(value)
            lines.append(line)
            if len(lines) >= chunk_rows:
                yield _chunk(fmt, columns, lines)
                columns = [[] for _ in converters]
                lines = []
    if lines:
        yield _chunk(fmt, columns, lines)


def _chunk(fmt: CsvFormat, columns: list[list[object]], lines: list[int]) -> Chunk:
    arrays = [pa.array(c, type=t) for c, (_, t) in zip(columns, fmt.columns, strict=True)]
    table = pa.Table.from_arrays(arrays, names=fmt.names)
    return Chunk(table, np.asarray(lines, dtype=np.int64))
