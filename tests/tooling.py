"""Locate (and on a fresh machine, install) the system tools real-component tests need.

Tests call ``require_tool``: it returns the tool's path, installing the Debian package when
the tool is missing and the process may run apt; otherwise the test is skipped with the
reason — except under CI=true, where a missing tool fails the test, so CI cannot go green
by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import pytest

_lock = threading.Lock()
_apt_updated = False
APT_TIMEOUT_S = 600


def _apt_install(package: str) -> str | None:
    global _apt_updated
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "apt-get is not available to this user"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with _lock:
        try:
            if not _apt_updated:
                subprocess.run(
                    ["apt-get", "update", "-qq"],
                    check=True,
                    env=env,
                    capture_output=True,
                    timeout=APT_TIMEOUT_S,
                )
                _apt_updated = True
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                check=True,
                env=env,
                capture_output=True,
                timeout=APT_TIMEOUT_S,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            return f"apt-get install {package} failed: {exc}"
    return None


def find_or_install(tool: str, apt_package: str) -> tuple[str | None, str]:
    """(path, reason): the path of ``tool`` or None with why it could not be had."""
    path = shutil.which(tool)
    if path:
        return path, ""
    problem = _apt_install(apt_package)
    path = shutil.which(tool)
    if path:
        return path, ""
    return None, problem or f"{tool} not on PATH after installing {apt_package}"


def require_tool(tool: str, apt_package: str) -> str:
    path, reason = find_or_install(tool, apt_package)
    if path is None:
        message = f"{tool} is unavailable ({reason})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; under CI=true a missing tool is a failure")
        pytest.skip(message)
    return path
