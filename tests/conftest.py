"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
REALDATA = REPO_ROOT.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The real exchange captures in ../shared/realdata (read in place, never copied)."""
    if not REALDATA.is_dir():
        pytest.skip(f"real captures not found at {REALDATA} (../shared/realdata is absent)")
    return REALDATA


def eventually(
    condition: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Wait until ``condition()`` holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
