"""Raw frames next to the decoded events (``csx record --raw``), so a recording can be
re-decoded after a decoder fix: ``csx import <store>/raw --store <fresh store>`` reads them
(the timestamped-frames format of ``csx_core.archive.capture``).

Every frame the connectors hand to the frame handler is kept as one ``<recv_ns> <frame>``
line (receive time in integer ns, the frame's bytes unchanged) in gzip files under
``<store>/raw/``, one file per UTC hour of receive time, and a new one whenever the
compressed size reaches ``max_bytes`` (passed by at most the block the compressor still holds:
tens of kB). Files are named
``frames-<YYYYMMDD>T<HH>Z-<first recv_ns>.gz``, so names sort in time order.

Crash safety: a file is written as ``.<name>.part`` — a dot name, which a directory import
skips — and renamed once complete (gzip trailer written, file and directory fsynced), so
every visible file is a whole gzip. The open part is sync-flushed and fsynced every
``sync_s``; after a crash ``recover_orphans`` (run by ``start``) rewrites a part's complete
lines into its final name and removes it: what was flushed survives, a torn last line is
dropped. (The importer reads a gzip to its end: a torn one would stop the import.)

Frames that are not one capture line are skipped and counted (``skipped``), not escaped: a
frame holding ``\\n``, ending in ``\\r`` or not starting with ``{`` / ``[`` cannot be read
back byte-exact from a line (the importer splits on newlines, strips trailing ``\\r\\n`` and
recognises a capture by its first line), and no reader would undo an escape. Binance sends
compact JSON text frames, so on its feed the count stays 0.

Memory and threads: ``add`` runs on the event loop and only appends to a deque bounded by
``max_pending_bytes``; over the bound the oldest pending frames are dropped and counted
(``dropped``), so the loop never waits for the disk. One writer thread formats, compresses,
writes and rotates. No lock: both threads pop the deque (atomic in CPython) and each counts
the bytes it took in a counter only it writes, so pending bytes = added - written - dropped.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import secrets
import threading
import time
import zlib
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from csx_core.store.atomic import TEMP_PREFIX, ensure_dir, fsync_dir

log = logging.getLogger(__name__)

RAW_DIR = "raw"
PREFIX = "frames-"
SUFFIX = ".gz"
PART = ".part"
HOUR_NS = 3600 * 1_000_000_000
WRITE_CHUNK = 1 << 20
"""Line bytes compressed per write: the size check between writes stays this fine."""
SALVAGE_CHUNK = 1 << 16
"""Compressed bytes fed per step when salvaging a part: a corrupt stretch loses at most this
much before it, besides itself."""
POLL_S = 0.05
COMPRESS_LEVEL = 6  # gzip's default 9 costs ~3x the CPU for ~5 % smaller files of JSON


@dataclass
class RawStats:
    """Monotone counts: frames (and their line bytes, uncompressed) written; skipped as not
    one line; dropped by the full buffer; lost to a failed write; files completed; parts left
    by a crash recovered at start, with their frames; write errors. (The event loop counts
    skipped and dropped, the writer thread the rest: one writer per counter.)"""

    frames: int = 0
    bytes: int = 0
    skipped: int = 0
    dropped: int = 0
    lost: int = 0
    files: int = 0
    recovered_files: int = 0
    recovered_frames: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def file_name(first_recv_ns: int) -> str:
    hour = datetime.fromtimestamp(first_recv_ns // 1_000_000_000, tz=UTC)
    return f"{PREFIX}{hour:%Y%m%dT%H}Z-{first_recv_ns:019d}{SUFFIX}"


def part_path(final: Path) -> Path:
    return final.with_name(f".{final.name}{PART}")


def final_path(part: Path) -> Path:
    return part.with_name(part.name[1 : -len(PART)])


_OPENERS = frozenset(b"{[")
_LF, _CR = 10, 13  # int membership is a memchr; ``b"\n" in frame`` is ~5x slower here


def is_one_line(frame: bytes) -> bool:
    """Whether ``frame`` reads back byte-exact as the body of one capture line."""
    return bool(frame) and frame[0] in _OPENERS and _LF not in frame and frame[-1] != _CR


def _gzip(raw: BinaryIO) -> gzip.GzipFile:
    # no file name or time in the header: the same frames give the same bytes
    return gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL, mtime=0)


def _finish(gz: gzip.GzipFile, raw: BinaryIO) -> None:
    gz.close()  # writes the trailer; the file object stays open
    raw.flush()
    os.fsync(raw.fileno())
    raw.close()


class _RawFile:
    """One part being written; ``finish`` makes it its final, complete file."""

    def __init__(self, directory: Path, first_recv_ns: int) -> None:
        name = file_name(first_recv_ns)
        final = directory / name
        n = 0
        while final.exists() or part_path(final).exists():  # same first ns after a size cut
            n += 1
            final = directory / name.replace(SUFFIX, f"-{n}{SUFFIX}")
        self.final, self.part = final, part_path(final)
        self.hour = first_recv_ns // HOUR_NS
        self.raw: BinaryIO = self.part.open("xb")
        self.gz = _gzip(self.raw)

    def size(self) -> int:
        return self.raw.tell()

    def sync(self) -> None:
        self.gz.flush()  # Z_SYNC_FLUSH: everything so far decompresses from the part
        os.fsync(self.raw.fileno())

    def finish(self) -> None:
        _finish(self.gz, self.raw)
        os.replace(self.part, self.final)
        fsync_dir(self.final.parent)


def _salvage(part: Path, final: Path) -> int:
    """Write the complete lines of ``part`` (a gzip, maybe torn) to ``final``; their count."""
    tmp = part.parent / f"{TEMP_PREFIX}{secrets.token_hex(6)}-{final.name}"
    inflate = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer
    carry, lines = b"", 0
    with part.open("rb") as src, tmp.open("xb") as raw:
        gz = _gzip(raw)
        while not inflate.eof and (chunk := src.read(SALVAGE_CHUNK)):
            try:
                data = carry + inflate.decompress(chunk)
            except zlib.error:
                break  # corrupt from here on (e.g. blocks never written before the crash)
            cut = data.rfind(b"\n") + 1
            gz.write(data[:cut])
            lines += data.count(b"\n", 0, cut)
            carry = data[cut:]
        _finish(gz, raw)
    if lines:
        os.replace(tmp, final)
        fsync_dir(final.parent)
    else:
        tmp.unlink()
    return lines


def recover_orphans(directory: Path) -> tuple[int, int]:
    """Finalise every part a crash left in ``directory``: (parts, frames kept). Temp files
    of an interrupted recovery are removed first (their part is still there)."""
    if not directory.is_dir():
        return 0, 0
    for tmp in directory.glob(f"{TEMP_PREFIX}*"):
        tmp.unlink()
    parts = frames = 0
    for part in sorted(directory.glob(f".{PREFIX}*{SUFFIX}{PART}")):
        try:
            kept = _salvage(part, final_path(part))
        except OSError as exc:  # kept for a later start or a person; recording goes on
            log.error("recovering raw frames failed", extra={"file": part.name, "error": str(exc)})
            continue
        part.unlink()
        fsync_dir(directory)
        parts, frames = parts + 1, frames + kept
        log.warning(
            "raw frames recovered from a crash",
            extra={"file": final_path(part).name, "frames": kept},
        )
    return parts, frames


class RawFrameWriter:
    """Every frame ``add``ed, into rotating gzip files under ``directory`` (see the module
    docstring); ``start`` recovers orphans and starts the writer thread, ``close`` writes
    what is pending, completes the open file and stops the thread."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 256 << 20,
        max_pending_bytes: int = 64 << 20,
        sync_s: float = 1.0,
    ) -> None:
        if max_bytes < 1 or max_pending_bytes < 1:
            raise ValueError("max_bytes and max_pending_bytes must be >= 1")
        if not sync_s > 0:
            raise ValueError("sync_s must be > 0")
        self.directory = Path(directory)
        self.max_bytes, self.max_pending_bytes, self.sync_s = max_bytes, max_pending_bytes, sync_s
        self.stats = RawStats()
        self._pending: deque[tuple[int, bytes]] = deque()
        self._added_bytes = 0  # written by add (the event loop) only
        self._shed_bytes = 0  # likewise: dropped by add when over the bound
        self._taken_bytes = 0  # written by the writer thread only
        self._stop = threading.Event()
        self._file: _RawFile | None = None
        self._lines: list[bytes] = []
        self._line_bytes = 0
        self._thread: threading.Thread | None = None
        # line bytes per write: compressed ~10x, so even a small max_bytes is checked often
        self._chunk = min(WRITE_CHUNK, max_bytes)

    @property
    def pending_bytes(self) -> int:
        return self._added_bytes - self._taken_bytes - self._shed_bytes

    def start(self) -> None:
        """Recover what a crash left, then start writing (blocking: call it off the loop)."""
        ensure_dir(self.directory)
        self.stats.recovered_files, self.stats.recovered_frames = recover_orphans(self.directory)
        self._thread = threading.Thread(target=self._run, name="csx-raw-frames", daemon=True)
        self._thread.start()

    def add(self, frame: bytes, recv_ns: int) -> None:
        """Queue one frame (the event loop's side: an append, never a wait)."""
        if not (frame and frame[0] in _OPENERS and _LF not in frame and frame[-1] != _CR):
            self.stats.skipped += 1  # is_one_line, inlined: this runs per frame
            return
        self._pending.append((recv_ns, frame))
        self._added_bytes += len(frame)
        if self._added_bytes - self._taken_bytes - self._shed_bytes > self.max_pending_bytes:
            self._shed()

    def _shed(self) -> None:
        pop = self._pending.popleft
        while self.pending_bytes > self.max_pending_bytes:
            try:
                _, old = pop()
            except IndexError:  # the writer took the rest meanwhile
                return
            self._shed_bytes += len(old)
            self.stats.dropped += 1

    def close(self) -> None:
        """Write everything added so far and complete the open file (blocking)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        else:  # never started: write synchronously
            self._drain(final=True)
        log.info("raw frames closed", extra=self.stats.to_dict())

    def _run(self) -> None:
        next_sync = time.monotonic() + self.sync_s
        while True:
            final = self._stop.is_set()  # read before draining: every add() happened before
            try:
                self._drain(final=final)
                if not final and self._file is not None and time.monotonic() >= next_sync:
                    self._file.sync()
                    next_sync = time.monotonic() + self.sync_s
            except OSError as exc:
                self._failed(exc)
            except Exception:  # a bug must not end recording silently
                log.exception("raw frame writer failed")
                self.stats.errors += 1
            if final:
                return
            self._stop.wait(POLL_S)

    def _drain(self, *, final: bool) -> None:
        batch = []
        pop = self._pending.popleft
        for _ in range(len(self._pending)):  # what is there now; later frames wait a poll
            try:
                item = pop()
            except IndexError:  # add shed the rest meanwhile
                break
            batch.append(item)
            self._taken_bytes += len(item[1])
        done = 0  # frames of the batch moved into self._lines
        try:
            for recv_ns, frame in batch:
                if self._file is None or recv_ns // HOUR_NS != self._file.hour:
                    self._rotate(recv_ns)
                line = b"%d %b\n" % (recv_ns, frame)
                self._lines.append(line)
                done += 1
                self._line_bytes += len(line)
                if self._line_bytes >= self._chunk:
                    self._write_lines()
            self._write_lines()
        except BaseException:
            self.stats.lost += len(batch) - done
            raise
        if final and self._file is not None:
            file, self._file = self._file, None
            file.finish()
            self.stats.files += 1

    def _rotate(self, recv_ns: int) -> None:
        self._write_lines()
        if self._file is not None:
            file, self._file = self._file, None
            file.finish()
            self.stats.files += 1
        self._file = _RawFile(self.directory, recv_ns)

    def _write_lines(self) -> None:
        if not self._lines or self._file is None:
            return
        lines, self._lines, self._line_bytes = self._lines, [], 0
        try:
            self._file.gz.write(b"".join(lines))
        except BaseException:
            self.stats.lost += len(lines)
            raise
        self.stats.frames += len(lines)
        self.stats.bytes += sum(map(len, lines))
        if self._file.size() >= self.max_bytes:
            file, self._file = self._file, None
            file.finish()
            self.stats.files += 1

    def _failed(self, exc: OSError) -> None:
        """A write failed (disk full, ...): drop the lines in hand and abandon the file; its
        part keeps what reached the disk for the next start to recover."""
        self.stats.errors += 1
        self.stats.lost += len(self._lines)
        self._lines, self._line_bytes = [], 0
        file, self._file = self._file, None
        if file is not None:
            for close in (file.gz.close, file.raw.close):  # the gzip first: no trailer later
                with contextlib.suppress(OSError, ValueError):
                    close()
        log.error("writing raw frames failed", extra={"error": str(exc)})


__all__ = ["RAW_DIR", "RawFrameWriter", "RawStats", "is_one_line", "recover_orphans"]
