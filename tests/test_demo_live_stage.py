"""The demo's live stage: how many sockets the exchange waits for, the readiness watch, and
the parity line."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

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


class _Readyz(BaseHTTPRequestHandler):
    """/readyz: not ready (503, with reasons) for the first answers, then 200."""

    answers: ClassVar[list[tuple[int, dict[str, object]]]] = [
        (503, {"reasons": ["model_not_loaded"]}),
        (503, {"reasons": ["model_not_loaded"]}),
        (503, {"reasons": ["warming up: 3 of 20 symbols warm"]}),
        (200, {"ready": True}),
    ]
    served: ClassVar[int] = 0

    def do_GET(self) -> None:
        status, body = self.answers[min(type(self).served, len(self.answers) - 1)]
        type(self).served += 1
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def readyz_url() -> Iterator[str]:
    _Readyz.served = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Readyz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/readyz"
    finally:
        server.shutdown()
        server.server_close()


def test_the_ready_watch_times_the_first_200_and_notes_each_new_reason(
    readyz_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo._ReadyWatch, "POLL_S", 0.01)
    watch = demo._ReadyWatch(readyz_url, timeout_s=10)
    after = watch.wait()
    assert _Readyz.served == 4  # it stopped at the first 200
    assert after is not None
    assert 0 < after < 5
    assert [reason for _, reason in watch.reasons] == [
        "model_not_loaded",
        "warming up: 3 of 20 symbols warm",
    ]


def test_the_ready_watch_gives_none_when_the_runner_never_gets_ready(
    readyz_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Readyz, "answers", _Readyz.answers[:1])
    monkeypatch.setattr(demo._ReadyWatch, "POLL_S", 0.01)
    assert demo._ReadyWatch(readyz_url, timeout_s=0.2).wait() is None
