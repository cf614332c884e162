"""``csx record --raw``: what keeping raw frames costs the event loop and how fast the writer
thread keeps up, each against the plain way of doing the same job.

* ``RawFrameWriter.add`` (the event loop's side: a one-line check and a locked deque append)
  vs a bare ``deque.append``, per frame.
* End to end (add every frame, close: formatted, gzip level 6, rotated, fsynced) vs writing
  the same lines with ``gzip.open`` in one thread, once.
"""

from __future__ import annotations

import gzip
import tempfile
from collections import deque
from pathlib import Path

from benchmarks.harness import latency_percentiles, measure, report, report_latency
from csx_core.wire.encode import encode_combined
from csx_live.raw_frames import RawFrameWriter
from tests.test_recorder import market


def _frames(seconds: int) -> list[tuple[int, bytes]]:
    events = market(seconds, ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"))
    return [(e.ts_recv, encode_combined(e)) for e in events]


def _raw_writer(frames: list[tuple[int, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        writer = RawFrameWriter(Path(tmp), max_bytes=8 << 20)
        writer.start()
        for recv_ns, frame in frames:
            writer.add(frame, recv_ns)
        writer.close()
        assert writer.stats.frames == len(frames)


def _gzip_open(frames: list[tuple[int, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, gzip.open(Path(tmp) / "f.gz", "wb", 6) as f:
        f.write(b"".join(b"%d %b\n" % pair for pair in frames))


def run(*, quick: bool) -> None:
    frames = _frames(300 if quick else 1500)
    n = len(frames)
    size = sum(len(f) for _, f in frames)
    repeat = 2 if quick else 5
    print(f"  {n:,} encoded frames ({size / n:.0f} B each), 4 symbols")
    report(
        "Raw frames to gzip files (end to end)",
        measure("RawFrameWriter (thread, rotate, fsync)", lambda: _raw_writer(frames), items=n,
                repeat=repeat),
        measure("reference: one gzip.open write", lambda: _gzip_open(frames), items=n,
                repeat=repeat),
        "frames",
    )  # fmt: skip
    print("\n## The event loop's side, per frame")
    with tempfile.TemporaryDirectory() as tmp:
        writer = RawFrameWriter(Path(tmp), max_pending_bytes=1 << 40)  # not started: no drain
        recv_ns, frame = frames[0]
        report_latency(
            "RawFrameWriter.add", latency_percentiles(lambda: writer.add(frame, recv_ns), calls=n)
        )
        plain: deque[tuple[int, bytes]] = deque()
        report_latency(
            "reference: deque.append",
            latency_percentiles(lambda: plain.append((recv_ns, frame)), calls=n),
        )
        writer.close()
