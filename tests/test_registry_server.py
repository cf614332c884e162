"""Register and promote over HTTP against a real ``mlflow server`` on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from csx_pipelines.promotion import Profile, evaluate_gates
from csx_pipelines.registry import ModelRegistry
from tests.servers import free_port, server_process
from tests.test_registry import GOOD, register

pytestmark = pytest.mark.slow


def test_register_promote_and_load_champion_over_http(tmp_path: Path) -> None:
    port = free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    argv = [
        str(mlflow_bin),
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination",
        (tmp_path / "server-artifacts").as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with server_process(
        argv,
        ready_url=f"http://127.0.0.1:{port}/health",
        log=tmp_path / "mlflow-server.log",
        env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        timeout=120,
    ):
        registry = ModelRegistry(f"http://127.0.0.1:{port}")
        version = register(registry, tmp_path, "http", GOOD)
        gates = evaluate_gates(registry.version_metrics(version), Profile.DEV, has_champion=False)
        assert registry.promote(version, gates).promoted
        assert registry.champion() == version
        package = registry.download("champion", tmp_path / "champion")
        assert (package / "model.txt").read_text() == "tree http\n"
        # the artifacts went through the server, not around it
        assert list((tmp_path / "server-artifacts").rglob("model.txt"))
