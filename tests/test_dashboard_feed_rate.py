"""The dashboard's frames/s is a rate over a whole second, however often health is read."""

from __future__ import annotations

from csx_live.connectors.stream import LinkStats
from csx_live.dashboard_feed import DashboardFeed
from csx_live.state import NS_PER_S, LiveState

T0 = 1_767_225_600 * NS_PER_S


class _Queue:
    dropped = 0


def test_frames_per_s_counts_a_whole_second_not_the_time_since_the_last_tick() -> None:
    now = [T0]
    link = LinkStats()
    feed = DashboardFeed(
        state=LiveState(),
        link=link,
        queue=_Queue(),
        connections=lambda: 1,
        fresh_s=5.0,
        wall_ns=lambda: now[0],
    )
    assert feed.health().frames_per_s == 0.0  # nothing measured yet
    # A replay's burst: 400 frames over 1.25 s, with ticks read 1 ms apart in between
    # (no frame between two of them).
    for step in range(5):
        link.frames_in += 100 if step < 4 else 0
        now[0] += NS_PER_S // 4 if step < 4 else 1_000_000
        shown = feed.health().frames_per_s
    assert shown == 400.0  # 400 frames in the first whole second, not 0 since the last tick
    now[0] += NS_PER_S // 2  # under a second since that window closed: it is still shown
    assert feed.health().frames_per_s == 400.0
    link.frames_in += 30
    now[0] += NS_PER_S // 2
    assert feed.health().frames_per_s == 30.0  # 30 frames over the next 1.001 s, rounded
