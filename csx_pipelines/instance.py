"""Where the platform keeps its state on this machine: the data lake, the Dagster instance
and the MLflow store, all under one data directory by default."""

from __future__ import annotations

import os
from pathlib import Path

MAX_CONCURRENT_RUNS = 3
MAX_BACKFILL_RUNS = 2

# A backfill fans out into one run per day; the queue lets at most MAX_BACKFILL_RUNS of them
# go at once (all backfills together), so a scheduled run always finds a free slot.
DAGSTER_YAML = f"""\
# Written by CryptoScreener-X on first use; edit freely.
concurrency:
  runs:
    max_concurrent_runs: {MAX_CONCURRENT_RUNS}
    tag_concurrency_limits:
      - key: dagster/backfill
        limit: {MAX_BACKFILL_RUNS}
run_monitoring:
  enabled: true
  max_runtime_seconds: 7200
telemetry:
  enabled: false
"""


def dagster_home(data_dir: Path) -> Path:
    """The local Dagster instance directory, created with a dagster.yaml on first use."""
    home = (data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


def platform_env(data_dir: Path) -> dict[str, str]:
    """Environment for child processes (dagster dev, mlflow server) of this data directory."""
    return {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home(data_dir)),
        "CSX_DATA_DIR": str(data_dir.resolve()),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
