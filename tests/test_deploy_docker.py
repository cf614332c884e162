"""The Dockerfile, checked without a Docker engine (none runs on these machines): hadolint,
and the properties the deployment relies on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [
        line.split(None, 1)[1]
        for line in joined.splitlines()
        if line.strip().upper().startswith(name + " ")
    ]


def test_hadolint_is_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(REPO_ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_is_non_root_with_healthcheck_and_volumes() -> None:
    users = instructions("USER")
    assert users, "no USER instruction"
    assert not users[-1].startswith(("root", "0")), users[-1]
    (health,) = instructions("HEALTHCHECK")
    assert "/healthz" in health
    volumes = json.loads(instructions("VOLUME")[-1])
    assert set(volumes) == {"/data", "/tmp"}
    env = " ".join(instructions("ENV"))
    # every path the processes write to lives under a declared volume
    for var in ("HOME", "MPLCONFIGDIR", "DAGSTER_HOME", "CSX_DATA_DIR"):
        match = re.search(rf"\b{var}=(\S+)", env)
        assert match, var
        assert match.group(1).startswith(("/data", "/tmp")), (var, match.group(1))


def test_build_installs_exactly_the_lock() -> None:
    runs = " ".join(instructions("RUN"))
    assert "uv sync --frozen --no-dev" in runs
    pinned = re.search(r"uv==([\d.]+)", runs)
    script = (REPO_ROOT / "csx.sh").read_text()
    assert pinned
    assert f"UV_VERSION={pinned.group(1)}" in script, "Dockerfile and csx.sh pin different uv"


def test_entrypoint_commands_exist_in_the_environment() -> None:
    bin_dir = Path(sys.executable).parent
    (entrypoint,) = instructions("ENTRYPOINT")
    assert json.loads(entrypoint) == ["csx"]
    assert (bin_dir / "csx").exists()
    cmd = json.loads(instructions("CMD")[-1])
    help_text = subprocess.run(
        [str(bin_dir / "csx"), cmd[0], "--help"], capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0, help_text.stderr
    for flag in cmd[1:]:
        if flag.startswith("--"):
            assert flag in help_text.stdout, f"csx {cmd[0]} has no {flag}"
    for console_script in ("dagster", "dagster-webserver", "dagster-daemon", "mlflow"):
        assert (bin_dir / console_script).exists(), console_script


def test_the_data_volume_is_created_for_the_runtime_user() -> None:
    # A named volume mounted at /data copies the image's /data ownership; without it the
    # non-root processes cannot write their data lake there.
    (user,) = {u.split(":")[0] for u in instructions("USER")}
    runs = " ".join(instructions("RUN"))
    assert re.search(rf"install -d -o {user} -g {user}\b[^&]*/data\b", runs), runs
