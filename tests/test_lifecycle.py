"""Long-running commands stop on SIGTERM and take their whole process tree with them.

``csx ui mlflow|dagster`` run under a real ``csx`` process: once the UI answers HTTP, SIGTERM
goes to the ``csx`` process only; it has to exit within a bound, every process that was in
its tree (the server, gunicorn/uvicorn workers, dagster's webserver and daemon) has to be
gone, and the port has to be bindable again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CSX = str(Path(sys.executable).parent / "csx")
STOP_BOUND_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                found.update(int(c) for c in fh.read().split())
        except OSError:
            continue
    return found


def _descendants(pid: int) -> set[int]:
    seen: set[int] = set()
    todo = [pid]
    while todo:
        for child in _children(todo.pop()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _alive(pid: int) -> bool:
    """Running and not a zombie (a zombie holds no port and is its parent's to reap)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.slow
@pytest.mark.parametrize("which", ["mlflow", "dagster"])
def test_ui_stops_on_sigterm_with_its_children(which: str, tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ)  # csx ui turns the MLflow job runner off itself
    with (tmp_path / f"{which}.log").open("wb") as log:
        proc = subprocess.Popen(
            [CSX, "ui", which, "--data-dir", str(tmp_path / "data"), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    tree: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while not _answers_http(f"http://127.0.0.1:{port}/"):
            assert proc.poll() is None, (tmp_path / f"{which}.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"{which} UI not up within 180 s"
            tree |= _descendants(proc.pid)
            time.sleep(0.2)
        tree |= _descendants(proc.pid)
        assert tree, "the UI server should be a child process of csx"

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STOP_BOUND_S)
        took = time.monotonic() - started
        print(f"csx ui {which}: stopped in {took:.1f} s, tree was {len(tree)} processes")

        # Every member is signalled and reaped before csx returns, but a grandchild's exit
        # is reaped by init asynchronously: allow a short settle, then require all gone.
        settle = time.monotonic() + 5
        while any(_alive(p) for p in tree) and time.monotonic() < settle:
            time.sleep(0.05)
        survivors = [p for p in tree if _alive(p)]
        assert not survivors, f"survived csx ui {which}: {survivors}"
        assert _port_free(port), f"port {port} still bound after csx ui {which} exited"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in tree:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


# -- the helper, fast: a child whose grandchild ignores SIGTERM ---------------------------

STUBBORN = "trap '' TERM; sleep 600 & echo $! > \"$1\"; wait"


def _wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} not written"
        time.sleep(0.02)
    return path.read_text().strip()


def test_stop_group_kills_members_that_ignore_sigterm(tmp_path: Path) -> None:
    from csx_pipelines.children import spawn, stop_group

    pidfile = tmp_path / "grandchild"
    proc = spawn(["sh", "-c", STUBBORN, "sh", str(pidfile)])
    grandchild = int(_wait_for_file(pidfile))
    started = time.monotonic()
    stop_group(proc, grace=0.5)
    assert time.monotonic() - started < 5
    assert proc.returncode is not None
    assert not _alive(grandchild)


# -- csx demo --keep-running, without the pipeline: the real run_demo wait loop -----------

# Started the way ``csx demo --keep-running &`` is from a non-interactive shell: SIGINT
# ignored. Dagster's in-process execution then maps SIGTERM onto the SIGINT disposition
# (``setup_interrupt_handlers``), which made the old demo ignore SIGTERM outright.
DEMO_DRIVER = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
from contextlib import contextmanager
from pathlib import Path

import csx_pipelines.demo as demo
from csx_pipelines.children import spawn, stop_group

pidfile = Path(sys.argv[1])


@contextmanager
def fake_exchange(store, settings, env, data_dir):
    yield "http://127.0.0.1:1", lambda: None


@contextmanager
def fake_runner(exchange, settings, env, data_dir):
    proc = spawn(["sleep", "600"])
    try:
        pidfile.write_text(str(proc.pid))
        yield {"live": "http://127.0.0.1:1", "exchange": exchange}
    finally:
        stop_group(proc, grace=5)


def fake_market_days(job, instance, settings):
    from dagster._utils.interrupts import capture_interrupts

    with capture_interrupts():
        pass
    return ["2024-01-01"]


demo._training_job = lambda data_dir: (None, None)
demo._market_days = fake_market_days
demo._train = lambda job, instance, keys, data_dir: ""
@contextmanager
def no_holdout(fn, *args):
    here = Path(sys.argv[2])
    yield lambda: demo.PreparedHoldout(here, here, here, None, None, 0.0)


demo._in_background = no_holdout
demo._backtest_holdout = lambda data_dir, prepared, day, seed, version: None
demo._exchange_up = fake_exchange
demo._runner_up = fake_runner
demo._print_where_to_look = lambda urls, data_dir: None
demo._observe = lambda urls, seconds, ready_timeout_s, started, meanwhile: {"ranked": 1}
demo._print_summary = lambda summary: None
sys.exit(demo.run_demo(demo.DemoSettings(data_dir=Path(sys.argv[2]), keep_running=True)))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_demo_keep_running_stops_on_signal(sig: int, tmp_path: Path) -> None:
    pidfile = tmp_path / "child"
    logfile = tmp_path / "demo.log"
    with logfile.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", DEMO_DRIVER, str(pidfile), str(tmp_path / "data")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        child = int(_wait_for_file(pidfile, timeout=60))
        deadline = time.monotonic() + 60
        while "--keep-running:" not in logfile.read_text():
            assert proc.poll() is None, logfile.read_text()
            assert time.monotonic() < deadline, "run_demo never reached its keep-running wait"
            time.sleep(0.02)
        assert _alive(child)
        proc.send_signal(sig)
        proc.wait(timeout=STOP_BOUND_S)
        out = logfile.read_text()
        assert proc.returncode == 0, out
        assert "demo finished" in out
        assert not _alive(child), "the demo's child outlived it"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
