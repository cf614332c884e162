"""The real hftbacktest BTC/ETH captures (2024-08-08) replay through the engine."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from csx_core.contracts import MarketEvent
from csx_core.contracts.events import EVENT_TYPES
from csx_core.features import (
    FEATURE_NAMES,
    FeatureEngine,
    digest_frames,
    drive_events,
    drive_tables,
)
from csx_core.wire import decode_frame
from tests.test_replay import tables_of


def read_capture(path: Path) -> list[MarketEvent]:
    """``<local_ns> <combined json>`` lines -> market events (depth frames are skipped)."""
    events: list[MarketEvent] = []
    with gzip.open(path, "rb") as f:
        for line in f:
            local_ns, _, frame = line.partition(b" ")
            decoded = decode_frame(frame, int(local_ns))
            if isinstance(decoded, EVENT_TYPES):
                events.append(decoded)
    return events


@pytest.fixture(scope="module")
def captured(realdata: Path) -> list[MarketEvent]:
    folder = realdata / "hftbacktest_usdm_2024-08-08"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    events = read_capture(folder / "btcusdt_20240808.gz")
    events += read_capture(folder / "ethusdt_20240808.gz")
    return events


def test_real_captures_replay_live_and_offline_to_one_digest(captured: list[MarketEvent]) -> None:
    ordered = sorted(captured, key=lambda e: e.ts_event)
    assert len(ordered) > 100_000
    live = list(drive_events(FeatureEngine(), ordered))
    half = len(ordered) // 2
    batch = list(
        drive_tables(FeatureEngine(), [tables_of(ordered[:half]), tables_of(ordered[half:])])
    )
    assert digest_frames(batch) == digest_frames(live)
    assert len(live) > 300  # ~6 minutes of 1-second ticks
    last = live[-1]
    assert last.symbols == ["BTCUSDT", "ETHUSDT"]
    spread = last.values[:, FEATURE_NAMES.index("spread_bps")]
    assert all(0 <= s < 5 for s in spread)
    counts = last.values[:, FEATURE_NAMES.index("count_1m")]
    assert all(c > 0 for c in counts)
    beta = last.values[:, FEATURE_NAMES.index("beta_btc")]
    assert all(math.isnan(b) for b in beta)  # under an hour: too few minutes for a beta
    assert not last.warm.any()


def test_real_captures_in_arrival_order_feed_without_error(captured: list[MarketEvent]) -> None:
    """Arrival order is not event-time order across streams: some events are late."""
    engine = FeatureEngine()
    ticks = 0
    for frame in drive_events(engine, sorted(captured, key=lambda e: e.ts_recv)):
        ticks += 1
        assert not any(math.isinf(v) for v in frame.values.ravel())
    assert ticks > 300
    assert engine.late_events < len(captured) // 10
