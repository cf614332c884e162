"""Child processes of long-running commands (``csx ui``, ``csx demo``): each child runs in its
own process group, SIGTERM/SIGINT to the parent stop the whole group, and nothing outlives
the parent with a port bound.

* :func:`stop_signals` turns SIGTERM (and SIGINT) into :class:`Stopped`, so ``finally``
  blocks run instead of the interpreter dying on the default SIGTERM action. Installing a
  Python handler also means children exec'd afterwards start with SIGINT at its default
  action, even when ``csx`` itself was started in the background with SIGINT ignored
  (``dagster dev`` maps SIGTERM onto its SIGINT handler, so an inherited ``SIG_IGN`` made
  it unkillable by SIGTERM).
* :func:`spawn` starts a child with ``start_new_session=True`` (its pid is its group id).
* :func:`stop_group` signals the group, waits up to ``grace`` seconds for every member
  (also workers the leader left behind), then SIGKILLs the group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM/SIGINT arrives inside :func:`stop_signals`; a
    ``KeyboardInterrupt``, so code that already unwinds on Ctrl-C treats SIGTERM the same."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM/SIGINT raise :class:`Stopped` (once; later ones are ignored while unwinding,
    the group kill after the grace period bounds the stop)."""
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    raised = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal raised
        if raised:
            return
        raised = True
        raise Stopped(signum)

    for sig in _SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def spawn(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``Popen`` in a new session, so the child's pid is the id of a group we can kill."""
    return subprocess.Popen(list(argv), start_new_session=True, **kwargs)  # noqa: S603


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def signal_group(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to ``proc``'s process group (started by :func:`spawn`), if any is left."""
    _signal_group(proc.pid, sig)


def stop_group(
    proc: subprocess.Popen[Any], grace: float = 10.0, sig: int = signal.SIGTERM
) -> int | None:
    """Send ``sig`` to ``proc``'s process group, wait up to ``grace`` s for the leader and
    every other member to exit, SIGKILL whatever is left; returns the leader's exit code."""
    pgid = proc.pid
    deadline = time.monotonic() + grace
    _signal_group(pgid, sig)
    orphans_signalled = False
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader, or its zombie keeps the group "alive"
        if proc.returncode is not None:
            if not _group_alive(pgid):
                return proc.returncode
            if not orphans_signalled:
                # The leader is gone; members it left behind may not have seen ``sig``.
                _signal_group(pgid, signal.SIGTERM)
                orphans_signalled = True
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    kill_deadline = time.monotonic() + 5
    while _group_alive(pgid) and time.monotonic() < kill_deadline:
        time.sleep(0.05)
    return proc.returncode


def run_foreground(argv: Sequence[str], grace: float = 10.0, **kwargs: Any) -> int:
    """Run ``argv`` until it exits or this process gets SIGTERM/SIGINT; either way its whole
    process group is gone on return. A requested stop returns 0."""
    with stop_signals():
        proc: subprocess.Popen[bytes] | None = None
        stop_sig: int = signal.SIGTERM
        try:
            proc = spawn(argv, **kwargs)
            return proc.wait()
        except KeyboardInterrupt as exc:
            stop_sig = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
            return 0
        finally:
            if proc is not None:
                # Forward what we got: SIGINT is the graceful path for ``dagster dev``.
                stop_group(proc, grace=grace, sig=stop_sig)
