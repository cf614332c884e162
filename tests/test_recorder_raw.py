"""``csx record --raw``: raw frames into rotating gzip files that ``csx import`` reads back
into the same events the recorder stored; a crash loses no completed file and the next
start recovers the torn one's complete lines."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import signal
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from csx_core.archive import import_archives
from csx_core.archive.capture import CaptureFormat, detect_unit, sniff
from csx_core.cli import main
from csx_core.contracts import EVENT_TYPES, MarketEvent
from csx_core.store import EventStore
from csx_core.wire.counters import FrameDecoder
from csx_core.wire.encode import encode_combined
from csx_live.exchange import ExchangeConfig, FakeExchange, ListSource
from csx_live.raw_frames import (
    HOUR_NS,
    PART,
    RAW_DIR,
    RawFrameWriter,
    is_one_line,
    part_path,
    recover_orphans,
)
from tests.test_recorder import T0, market
from tests.test_recorder_process import SYMBOLS, eventually, recording, stored


def frames(events: list[MarketEvent]) -> list[tuple[int, bytes]]:
    return [(e.ts_recv, encode_combined(e)) for e in events]


def lines_of(directory: Path) -> list[bytes]:
    """Every line of the completed raw files, in name order (each file read to its end)."""
    out: list[bytes] = []
    for path in sorted(directory.glob("frames-*.gz")):
        out += gzip.decompress(path.read_bytes()).split(b"\n")[:-1]  # "\r" is no line end
    return out


def wait_until(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def sorted_table(store: EventStore, kind: str) -> pa.Table:
    table = store.read(kind)
    return table.sort_by([(name, "ascending") for name in table.column_names])


def assert_same_events(recorded: EventStore, imported: EventStore) -> None:
    assert recorded.kinds() == imported.kinds()
    assert recorded.kinds()  # something was recorded
    for kind in recorded.kinds():
        assert sorted_table(recorded, kind).equals(sorted_table(imported, kind)), kind


def assert_imports_cleanly(raw_dir: Path, store: EventStore) -> int:
    """Import every visible file of ``raw_dir``; no file error, no bad line; frames read."""
    report = import_archives([raw_dir], store)
    assert report.files
    for file in report.files:
        assert (file.error, file.bad_rows, file.bad_count) == (None, [], 0), file.path
        assert file.counts is not None
        assert file.counts["malformed"] == 0
    return sum(f.counts["frames"] for f in report.files if f.counts is not None)


# -- the writer ------------------------------------------------------------------------------
def test_frames_round_trip_byte_exact_and_rotate_by_utc_hour(tmp_path: Path) -> None:
    hour_start = (T0 // HOUR_NS + 1) * HOUR_NS  # 2026-01-01T02:00Z
    kept = [(hour_start - 2, b'{"a":1}'), (hour_start - 1, b'[1, "\\u00e9\xc3\xa9"]'),
            (hour_start, b'{"b":2}'), (hour_start + 5, b'{"c":3}\r{"d":4}')]  # fmt: skip
    unreadable = [b'{"a":\n1}', b"\x00\x01binary", b"", b'{"a":1}\r', b' {"a":1}']
    writer = RawFrameWriter(tmp_path)
    writer.start()
    for i, (recv_ns, frame) in enumerate(kept):
        writer.add(frame, recv_ns)
        writer.add(unreadable[i % len(unreadable)], recv_ns)
    writer.add(unreadable[-1], hour_start)
    writer.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        f"frames-20260101T01Z-{hour_start - 2:019d}.gz",
        f"frames-20260101T02Z-{hour_start:019d}.gz",
    ]
    assert lines_of(tmp_path) == [b"%d %b" % pair for pair in kept]
    assert (writer.stats.frames, writer.stats.skipped, writer.stats.files) == (4, 5, 2)
    assert (writer.stats.dropped, writer.stats.lost, writer.stats.errors) == (0, 0, 0)
    for path in tmp_path.iterdir():
        assert sniff(path) is CaptureFormat.TIMESTAMPED
        assert detect_unit(path) == "ns"


@pytest.mark.parametrize(
    ("frame", "one_line"),
    [(b'{"e":1}', True), (b"[]", True), (b'{"e":\r1}', True), (b"", False), (b"x", False),
     (b'{"e":1}\n', False), (b'{"e":1}\r', False), (b"\x1f\x8b\x08", False)],
)  # fmt: skip
def test_only_frames_a_line_gives_back_are_kept(frame: bytes, one_line: bool) -> None:
    assert is_one_line(frame) is one_line


def test_size_rotation_keeps_every_frame_in_order_and_csx_import_reads_them(
    tmp_path: Path,
) -> None:
    events = market(600, SYMBOLS)
    raw = tmp_path / RAW_DIR
    writer = RawFrameWriter(raw, max_bytes=20_000)
    writer.start()
    for recv_ns, frame in frames(events):
        writer.add(frame, recv_ns)
    writer.close()
    assert writer.stats.files == len(list(raw.iterdir())) >= 3
    for path in raw.iterdir():  # past the bound by at most the compressor's pending block
        assert path.stat().st_size < 20_000 + (1 << 16)
    assert lines_of(raw) == [b"%d %b" % pair for pair in frames(events)]
    imported = EventStore(tmp_path / "imported")
    assert main(["import", "--quiet", "--store", str(imported.root), str(raw)]) == 0
    live = FrameDecoder()  # what a live session records from the same frames
    decoded = [live.decode(frame, recv_ns) for recv_ns, frame in frames(events)]
    expected = EventStore(tmp_path / "expected")
    expected.write_events([e for e in decoded if isinstance(e, EVENT_TYPES)])
    assert_same_events(expected, imported)


def test_the_buffer_is_bounded_and_drops_the_oldest(tmp_path: Path) -> None:
    writer = RawFrameWriter(tmp_path, max_pending_bytes=1_000)  # not started: nothing drains
    pairs = [(T0 + i, b'{"n":%03d}' % i) for i in range(500)]  # 9 bytes each
    for recv_ns, frame in pairs:
        writer.add(frame, recv_ns)
        assert writer.pending_bytes <= 1_000
    writer.close()
    kept = 1_000 // 9
    assert (writer.stats.dropped, writer.stats.frames) == (500 - kept, kept)
    assert lines_of(tmp_path) == [b"%d %b" % pair for pair in pairs[-kept:]]


def test_under_a_flood_every_frame_is_written_or_counted_dropped_in_order(
    tmp_path: Path,
) -> None:
    writer = RawFrameWriter(tmp_path, max_pending_bytes=2_000)  # both threads pop the deque
    writer.start()
    pairs = [(T0 + i, b'{"n":%06d}' % i) for i in range(200_000)]  # long enough to interleave
    for recv_ns, frame in pairs:
        writer.add(frame, recv_ns)
    writer.close()
    written = lines_of(tmp_path)
    assert writer.stats.frames == len(written)
    assert writer.stats.frames + writer.stats.dropped == len(pairs)
    assert writer.stats.frames > 0
    times = [int(line.split(b" ", 1)[0]) for line in written]
    assert times == sorted(set(times))  # a subsequence, in order, nothing twice
    assert set(written) <= {b"%d %b" % pair for pair in pairs}
    assert writer.pending_bytes == 0


def test_a_torn_part_is_recovered_to_its_complete_lines(tmp_path: Path) -> None:
    lines = [b"%d %b\n" % pair for pair in frames(market(30, SYMBOLS))]
    final = tmp_path / f"frames-20260101T01Z-{T0:019d}.gz"
    part = part_path(final)
    with part.open("wb") as raw:
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw)
        gz.write(b"".join(lines[:100]))
        gz.flush()  # what the writer's periodic sync makes durable
        synced = raw.tell()
        gz.write(b"".join(lines[100:]))
        gz.flush()
    torn = part.read_bytes()[: synced + (len(part.read_bytes()) - synced) // 2]
    part.write_bytes(torn)
    with pytest.raises(EOFError):  # what the importer would run into
        gzip.decompress(torn)
    (tmp_path / ".tmp-0a1b2c-leftover.gz").write_bytes(b"half a recovery")
    garbage = part_path(tmp_path / f"frames-20260101T01Z-{T0 + 1:019d}.gz")
    garbage.write_bytes(b"\x1f\x8b not really")
    files, kept = recover_orphans(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [final.name]  # nothing readable in garbage
    recovered = [line + b"\n" for line in lines_of(tmp_path)]
    assert files == 2
    assert kept == len(recovered)
    assert 100 <= len(recovered) < len(lines)
    assert recovered == lines[: len(recovered)]
    assert assert_imports_cleanly(tmp_path, EventStore(tmp_path / "store")) == len(recovered)


def test_a_complete_but_unrenamed_part_is_kept_whole(tmp_path: Path) -> None:
    lines = [b"%d %b\n" % pair for pair in frames(market(5, SYMBOLS))]
    final = tmp_path / f"frames-20260101T01Z-{T0:019d}.gz"
    part_path(final).write_bytes(gzip.compress(b"".join(lines)))
    assert recover_orphans(tmp_path) == (1, len(lines))
    assert gzip.decompress(final.read_bytes()) == b"".join(lines)


def test_the_open_part_is_synced_while_recording(tmp_path: Path) -> None:
    writer = RawFrameWriter(tmp_path, sync_s=0.05)
    writer.start()
    pairs = frames(market(5, SYMBOLS))
    for recv_ns, frame in pairs:
        writer.add(frame, recv_ns)
    wait_until(lambda: bool(list(tmp_path.glob(f".*{PART}"))))
    (part,) = tmp_path.glob(f".*{PART}")

    def readable() -> bytes:
        return zlib.decompressobj(wbits=31).decompress(part.read_bytes())

    wait_until(lambda: readable().count(b"\n") == len(pairs))  # before close: by the sync
    assert readable() == b"".join(b"%d %b\n" % pair for pair in pairs)
    writer.close()
    assert not list(tmp_path.glob(f".*{PART}"))


def test_bad_settings_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        RawFrameWriter(tmp_path, max_bytes=0)
    with pytest.raises(ValueError, match="sync_s"):
        RawFrameWriter(tmp_path, sync_s=0)


# -- csx record --raw as a process -----------------------------------------------------------
async def test_csx_import_of_the_raw_frames_gives_the_recorded_events(tmp_path: Path) -> None:
    events = market(600, SYMBOLS)
    config = ExchangeConfig(speed=None, await_clients=2)
    recorded = EventStore(tmp_path / "recorded", hash_on_read=False)
    async with FakeExchange(ListSource(events), config) as exchange:
        args = ("--raw", "--raw-max-mb", "0.02", "--batch-events", "1000", "--flush-s", "0.5")
        async with recording(exchange, recorded.root, *args) as rec:
            await eventually(lambda: rec.committed() == len(events), 30.0)
            rec.proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(rec.proc.wait(), 30.0) == 0
            assert rec.proc.stdout is not None
            summary = json.loads((await rec.proc.stdout.read()).decode())
    assert summary["recorder"]["events_written"] == stored(recorded) == len(events)
    raw = summary["raw"]
    assert raw["frames"] == summary["frames"] >= len(events)  # control replies are kept too
    assert (raw["skipped"], raw["dropped"], raw["lost"], raw["errors"]) == (0, 0, 0, 0)
    raw_dir = recorded.root / RAW_DIR
    assert raw["files"] == len(list(raw_dir.iterdir())) >= 2  # size rotation happened
    assert any(r.get("msg") == "raw frames closed" for r in rec.logs)
    imported = EventStore(tmp_path / "imported")
    assert main(["import", "--quiet", "--store", str(imported.root), str(raw_dir)]) == 0
    assert_same_events(recorded, imported)


async def test_sigkill_leaves_completed_raw_files_importable_and_a_restart_recovers(
    tmp_path: Path,
) -> None:
    config = ExchangeConfig(speed=200.0, loop=True)
    root = tmp_path / "recorded"
    raw_dir = root / RAW_DIR
    args = ("--raw", "--raw-max-mb", "0.04", "--batch-events", "400", "--flush-s", "600")

    def synced_part() -> bool:  # the open part holds complete lines: the sync ran
        for part in raw_dir.glob(f".*{PART}"):
            with contextlib.suppress(FileNotFoundError):  # renamed meanwhile
                return b"\n" in zlib.decompressobj(wbits=31).decompress(part.read_bytes())
        return False

    async with FakeExchange(ListSource(market(120, SYMBOLS)), config) as exchange:
        async with recording(exchange, root, *args) as rec:
            await eventually(lambda: len(list(raw_dir.glob("frames-*.gz"))) >= 2, 60.0)
            await eventually(synced_part, 30.0)
            rec.proc.kill()
            await rec.proc.wait()
        assert rec.proc.returncode == -signal.SIGKILL
        completed = {path: path.read_bytes() for path in raw_dir.glob("frames-*.gz")}
        (part,) = raw_dir.glob(f".*{PART}")
        frames_read = assert_imports_cleanly(raw_dir, EventStore(tmp_path / "before"))
        assert frames_read == len(lines_of(raw_dir)) > 0
        async with recording(exchange, root, *args) as rec:
            await eventually(lambda: len(list(raw_dir.glob("frames-*.gz"))) > len(completed), 60)
            rec.proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(rec.proc.wait(), 30.0) == 0
            assert rec.proc.stdout is not None
            summary = json.loads((await rec.proc.stdout.read()).decode())
    assert summary["raw"]["recovered_files"] == 1
    assert summary["raw"]["recovered_frames"] > 0  # what the last sync made durable
    assert not part.exists()
    assert not list(raw_dir.glob(".*"))
    for path, content in completed.items():  # a restart never touches a completed file
        assert path.read_bytes() == content
    assert assert_imports_cleanly(raw_dir, EventStore(tmp_path / "after")) == (
        frames_read + summary["raw"]["recovered_frames"] + summary["raw"]["frames"]
    )
