"""``csx ui dagster|mlflow``: open the platform's web UIs on this machine's data directory."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from csx_core.cli import Command


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("which", choices=["dagster", "mlflow"])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="default: 3000 (dagster), 5000 (mlflow)")


def _run(args: argparse.Namespace) -> int:
    from csx_pipelines.instance import platform_env
    from csx_pipelines.registry import default_artifact_location, default_tracking_uri

    bin_dir = Path(sys.executable).parent
    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    if args.which == "dagster":
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
    print("running:", " ".join(argv))
    try:
        return subprocess.call(argv, env=platform_env(args.data_dir))  # noqa: S603
    except KeyboardInterrupt:
        return 0


COMMANDS = [
    Command(
        name="ui",
        help="Start the Dagster UI (dagster dev) or the MLflow UI on the local data directory.",
        configure=_configure,
        run=_run,
    ),
]
