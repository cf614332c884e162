"""The demo's live stage: how many sockets the exchange waits for, and the parity line."""

from __future__ import annotations

import pytest

from csx_pipelines import demo


@pytest.mark.parametrize(("symbols", "sockets"), [(1, 2), (20, 2), (67, 3), (250, 6)])
def test_the_exchange_waits_for_every_socket_the_runner_opens(symbols: int, sockets: int) -> None:
    # a default runner: /public carries bookTicker, /market three channels per symbol, and a
    # connection holds at most 200 streams
    assert demo._runner_connections(symbols) == sockets


def _summary(**parity: int) -> dict[str, object]:
    return {
        "ranked": [],
        "model": "none",
        "ready_after_s": 20.5,
        "frames_per_s": 100.0,
        "tick_p99_ms": 5.0,
        "alerts": 0.0,
        "warm": "20 of 20",
        "promise": None,
        "realised": None,
        "parity_ticks": 1234,
        "parity_breaks": parity,
    }


def test_the_summary_says_when_live_features_kept_parity(capsys: pytest.CaptureFixture) -> None:
    demo._print_summary(_summary())
    assert "1234 ticks digested; no breaks" in capsys.readouterr().out


def test_the_summary_counts_each_parity_break(capsys: pytest.CaptureFixture) -> None:
    demo._print_summary(_summary(tick_skipped=110, late_event=1084))
    out = capsys.readouterr().out
    assert "breaks: tick_skipped 110, late_event 1084" in out
    assert "no breaks" not in out
