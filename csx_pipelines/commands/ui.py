"""``csx ui dagster|mlflow``: open the platform's web UIs on this machine's data directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csx_core.cli import Command
from csx_pipelines.children import run_foreground

GRACE_S = 15.0
WORKSPACE_YAML = """\
load_from:
  - python_module:
      module_name: csx_pipelines.definitions
      location_name: cryptoscreener_x
"""
"""The Dagster workspace, written into the data dir's Dagster home for ``dagster dev`` (an
installed wheel has no repo checkout to find one in); the repo's top-level
``workspace.yaml``, which the image copies for the webserver and daemon, is the same text
(a test holds them equal)."""


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("which", choices=["dagster", "mlflow"])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="default: 3000 (dagster), 5000 (mlflow)")


def _run(args: argparse.Namespace) -> int:
    from csx_pipelines.instance import dagster_home, platform_env
    from csx_pipelines.registry import default_artifact_location, default_tracking_uri

    bin_dir = Path(sys.executable).parent
    if args.which == "dagster":
        workspace = dagster_home(args.data_dir) / "workspace.yaml"
        workspace.write_text(WORKSPACE_YAML)
        argv = [
            str(bin_dir / "dagster"),
            "dev",
            "-w",
            str(workspace),
            "-h",
            args.host,
            "-p",
            str(args.port or 3000),
        ]
    else:
        argv = [
            str(bin_dir / "mlflow"),
            "server",
            "--backend-store-uri",
            default_tracking_uri(args.data_dir),
            "--default-artifact-root",
            default_artifact_location(args.data_dir),
            "--host",
            args.host,
            "--port",
            str(args.port or 5000),
            "--workers",
            "1",
        ]
    env = platform_env(args.data_dir)
    if args.which == "mlflow":
        # The job runner (a huey consumer plus workers) costs ~2 GB and the UI needs none of it.
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    print("running:", " ".join(argv), flush=True)
    # Own process group; SIGTERM/Ctrl-C stop the server and its workers, SIGKILL after the
    # grace period, so no port stays bound after ``csx ui`` returns.
    return run_foreground(argv, grace=GRACE_S, env=env)


COMMAND = Command(
    name="ui",
    help="Start the Dagster UI (dagster dev) or the MLflow UI on the local data directory.",
    configure=_configure,
    run=_run,
)
