"""docker-compose.yml without a Docker engine: its structure, every bind-mounted local path,
ports on 127.0.0.1 only, each service's command being a real command of the image (``csx``
subcommands parse with the real CLI parser and ``csx live`` validates its settings with the
container's environment; other entrypoints are console scripts of the venv that know the
options given), and the Prometheus/Grafana wiring (rule files and dashboards mounted where
the configs expect them; promtool accepts the Prometheus config)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import warnings
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.tooling import require_tool

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
VENV_BIN = Path(sys.executable).parent
IMAGE_ENTRYPOINT = ["csx"]


@cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def csx_services() -> list[str]:
    """Services running the project's image (built from the Dockerfile)."""
    return [n for n, s in services().items() if "build" in s]


def image_env() -> dict[str, str]:
    """``ENV`` of the Dockerfile's final stage (``KEY=value`` pairs, continuation lines)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    final = text.split("\nFROM ")[-1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def container_env(service: dict[str, Any]) -> dict[str, str]:
    env = image_env()
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.partition("=")[::2] for item in raw)
    for key, value in raw.items():
        env[key] = re.sub(r"\$\{[^}]*\}", "", str(value))  # ${VAR:-} from the host: empty here
    return env


def command_of(service: dict[str, Any]) -> tuple[list[str], list[str]]:
    entry = service.get("entrypoint", IMAGE_ENTRYPOINT)
    entry = shlex.split(entry) if isinstance(entry, str) else list(entry)
    cmd = service.get("command", [])
    cmd = shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]
    return entry, cmd


def test_compose_has_the_stack() -> None:
    assert {
        "live",
        "mlflow",
        "dagster-webserver",
        "dagster-daemon",
        "prometheus",
        "grafana",
    } <= set(services())
    assert set(csx_services()) >= {"live", "mlflow", "dagster-webserver", "dagster-daemon"}


@pytest.mark.parametrize("name", sorted(services()))
def test_bind_mounts_exist_and_named_volumes_are_declared(name: str) -> None:
    declared = set(compose().get("volumes") or {})
    for volume in services()[name].get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") != "bind":
                continue
            source = volume["source"]
        else:
            source = volume.split(":")[0]
        if source.startswith((".", "/")):
            assert (ROOT / source).exists(), f"{name}: mounted {source} does not exist"
        else:
            assert source in declared, f"{name}: volume {source} not declared"


@pytest.mark.parametrize("name", sorted(services()))
def test_ports_are_bound_to_loopback(name: str) -> None:
    for port in services()[name].get("ports", []):
        spec = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}"
        assert spec.startswith("127.0.0.1:"), f"{name}: {spec} is published on every interface"


@pytest.mark.parametrize("name", csx_services())
def test_project_services_run_a_real_command(name: str) -> None:
    entry, cmd = command_of(services()[name])
    if entry == ["csx"]:
        from csx_core.cli import build_parser

        args = build_parser().parse_args(cmd)  # SystemExit(2) on an unknown subcommand/flag
        assert getattr(args, "_run", None) is not None, f"{name}: {cmd} is not a csx subcommand"
        return
    tool = VENV_BIN / entry[0]
    assert tool.is_file(), f"{name}: entrypoint {entry[0]} is not a console script in the venv"
    words = [c for c in cmd if not c.startswith("-")]
    known = click_options(entry[0], words[0] if words else None)
    for flag in (c.split("=")[0] for c in cmd if c.startswith("-")):
        assert flag in known, f"{name}: {entry[0]} {' '.join(words[:1])} has no option {flag}"


def click_options(script: str, sub: str | None) -> set[str]:
    """Options of a click-based console script (or of its subcommand ``sub`` when the script
    is a group that has it), read in-process from the command object."""
    import click

    points = {e.value: e for e in entry_points(group="console_scripts") if e.name == script}
    assert len(points) == 1, f"{script}: {sorted(points)}"
    (point,) = points.values()
    with warnings.catch_warnings():  # import-time noise of third-party CLIs (mlflow, dagster)
        warnings.simplefilter("ignore")
        loaded = point.load()
    command = loaded if isinstance(loaded, click.Command) else import_module(point.module).cli
    if isinstance(command, click.Group) and sub is not None:
        found = command.get_command(click.Context(command), sub)
        assert found is not None, f"{script} has no subcommand {sub}"
        command = found
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)}


def test_live_service_settings_validate_in_the_container_environment() -> None:
    """``csx live --dry-run`` with the service's command and the environment the container
    gets (image ENV + compose environment): unknown ``CSX_*`` variables are rejected."""
    service = services()["live"]
    entry, cmd = command_of(service)
    assert entry == ["csx"]
    assert cmd[0] == "live"
    env = {k: v for k, v in container_env(service).items() if k != "PATH"}
    done = subprocess.run(
        [str(VENV_BIN / "csx"), *cmd, "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ["PATH"], **env},
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _mount_targets(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> local source of each bind mount."""
    out = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str) and volume.startswith("."):
            source, target = volume.split(":")[:2]
            out[target] = source
    return out


def test_prometheus_loads_the_mounted_rules_and_scrapes_the_live_service() -> None:
    prom = services()["prometheus"]
    mounts = _mount_targets(prom)
    config_path = next(a.split("=", 1)[1] for a in prom["command"] if a.startswith("--config.file"))
    config = yaml.safe_load((ROOT / mounts[config_path]).read_text())
    config_dir = PurePosixPath(config_path).parent
    for rule_file in config["rule_files"]:
        target = str(config_dir / rule_file)  # Prometheus resolves it beside its config
        assert target in mounts, f"{target} is not mounted into the prometheus service"
        assert (ROOT / mounts[target]).is_file()
    targets = [
        t for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    ]
    live_port = command_of(services()["live"])[1]
    port = live_port[live_port.index("--port") + 1]
    assert f"live:{port}" in targets
    # the alerts reach the compose Alertmanager
    managers = [
        t
        for am in config["alerting"]["alertmanagers"]
        for s in am["static_configs"]
        for t in s["targets"]
    ]
    am_port = services()["alertmanager"]["ports"][0].rsplit(":", 1)[1]
    assert managers == [f"alertmanager:{am_port}"]
    assert "alertmanager" in prom["depends_on"]
    # promtool on the repo's own file, as an operator would run it
    tool = require_tool("promtool", "prometheus")
    done = subprocess.run(
        [tool, "check", "config", str(ROOT / mounts[config_path])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_gets_the_dashboards_and_the_prometheus_datasource() -> None:
    grafana = services()["grafana"]
    mounts = _mount_targets(grafana)
    provisioning = ROOT / mounts["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards" / "csx.yml").read_text())["providers"]
    for provider in providers:
        path = provider["options"]["path"]
        assert path in mounts, f"dashboard path {path} is not mounted"
        assert list((ROOT / mounts[path]).glob("*.json")), f"no dashboard JSON in {mounts[path]}"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    urls = [s["url"] for s in sources["datasources"]]
    assert "http://prometheus:9090" in urls
    assert "prometheus" in grafana.get("depends_on", [])


def test_alertmanager_config_routes_to_a_declared_receiver() -> None:
    am = services()["alertmanager"]
    mounts = _mount_targets(am)
    config_path = next(a.split("=", 1)[1] for a in am["command"] if a.startswith("--config.file"))
    config = yaml.safe_load((ROOT / mounts[config_path]).read_text())
    receivers = {r["name"] for r in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    tool = require_tool("amtool", "prometheus-alertmanager")
    done = subprocess.run(
        [tool, "check-config", str(ROOT / mounts[config_path])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
