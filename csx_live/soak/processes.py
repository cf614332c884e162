"""The two processes a soak drives — ``csx exchange`` and ``csx live`` — and the loopback
HTTP calls it makes to them (stdlib only: the soak's own client must not share the runner's
event loop or libraries)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

CSX = [sys.executable, "-m", "csx_core.cli"]
HTTP_TIMEOUT_S = 5.0


class SoakSetupError(RuntimeError):
    """A process of the soak did not start; the message says which and shows its log."""


def http_get(url: str) -> tuple[int, bytes]:
    """(status, body); a refused or timed-out call is (0, b"")."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0, b""


def http_post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (loopback http URLs we built)
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
        return 0, str(exc)


def rss_mib(pid: int) -> float | None:
    """Resident set size of ``pid`` from ``/proc/<pid>/status`` (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Managed:
    """A child process in its own session, output to ``log``; ``stop`` sends SIGTERM and
    waits up to ``grace_s`` before SIGKILL, returning the exit code."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._out: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 (argv is ours)
            argv,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exited(self) -> int | None:
        return self.proc.poll()

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self, grace_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return int(self.proc.returncode)


def start_exchange(
    store: Path, log: Path, *, speed: str, max_lifetime_s: float, seed: int, timeout_s: float = 60
) -> tuple[Managed, str]:
    """``csx exchange`` on a free port, replaying ``store`` in a loop with event times rebased
    to now; returns the process and its base URL (read from its ready line)."""
    argv = [
        *CSX, "exchange", "--store", str(store), "--speed", speed, "--port", "0", "--loop",
        "--rebase-time", "--seed", str(seed), "--max-lifetime-s", str(max_lifetime_s),
    ]  # fmt: skip
    exchange = Managed(argv, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if exchange.exited() is not None:
            break
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith('{"ready"'):
                return exchange, str(json.loads(line)["ready"]["rest"])
        time.sleep(0.1)
    exchange.stop()
    raise SoakSetupError(f"csx exchange did not start:\n{exchange.tail()}")


def start_live(
    argv_extra: list[str], env: dict[str, str], log: Path, base_url: str, timeout_s: float = 90
) -> Managed:
    """``csx live`` with ``argv_extra``; waits until ``/healthz`` answers 200."""
    live = Managed([*CSX, "live", *argv_extra], log, env)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if live.exited() is not None:
            break
        if http_get(f"{base_url}/healthz")[0] == 200:
            return live
        time.sleep(0.2)
    live.stop()
    raise SoakSetupError(f"csx live did not start:\n{live.tail()}")
