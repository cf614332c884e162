"""Every Kustomize overlay renders and validates offline against Kubernetes schemas, and the
pods follow the restricted security profile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.tooling import require_tool

OVERLAYS = sorted(p.name for p in (REPO_ROOT / "k8s" / "overlays").iterdir() if p.is_dir())


def kustomize(overlay: str) -> subprocess.CompletedProcess[str]:
    kubectl = require_tool("kubectl", "kubernetes-client")
    return subprocess.run(
        [kubectl, "kustomize", str(REPO_ROOT / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def render(overlay: str) -> str:
    return kustomize(overlay).stdout


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
        for o in objects
        if o["kind"] in {"Deployment", "StatefulSet"}
    ]


def test_there_are_overlays() -> None:
    assert {"dev", "prod", "sharded"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates(overlay: str, tmp_path: Path) -> None:
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(render(overlay))
    validator = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(validator), "--strict", "--quiet", str(rendered)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_restricted_and_probed(overlay: str) -> None:
    objects = [o for o in yaml.safe_load_all(render(overlay)) if o]
    specs = pod_specs(objects)
    assert specs
    for name, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "readinessProbe" in container, name
            assert "livenessProbe" in container, name
            assert "limits" in container["resources"], name
    live = [spec for name, spec in specs if name.endswith("/csx-live")]
    assert len(live) == 1
    probes = live[0]["containers"][0]
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "startupProbe" in probes
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("PodDisruptionBudget", "csx-live") in kinds
    assert ("Secret", "csx-live") in kinds


def test_sharded_overlay_gives_each_replica_its_shard() -> None:
    objects = [o for o in yaml.safe_load_all(render("sharded")) if o]
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("Deployment", "csx-live") not in kinds
    (sts,) = [o for o in objects if o["kind"] == "StatefulSet"]
    replicas = sts["spec"]["replicas"]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[args.index("--shard") + 1] == f"$(CSX_SHARD_INDEX)/{replicas}"
    env = {e["name"]: e for e in container["env"]}
    field = env["CSX_SHARD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.labels['apps.kubernetes.io/pod-index']"


def test_secret_template_carries_no_values() -> None:
    objects = [o for o in yaml.safe_load_all(render("prod")) if o]
    (secret,) = [o for o in objects if o["kind"] == "Secret"]
    assert all(v == "" for v in secret.get("stringData", {}).values())


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_and_pdb_selects_a_pod_template(overlay: str) -> None:
    objects = [o for o in yaml.safe_load_all(render(overlay)) if o]
    templates = [
        o["spec"]["template"]["metadata"]["labels"]
        for o in objects
        if o["kind"] in {"Deployment", "StatefulSet"}
    ]
    selectors = [
        (f"Service/{o['metadata']['name']}", o["spec"]["selector"])
        for o in objects
        if o["kind"] == "Service"
    ] + [
        (f"{o['kind']}/{o['metadata']['name']}", o["spec"][key]["matchLabels"])
        for o in objects
        for kind, key in (("PodDisruptionBudget", "selector"), ("NetworkPolicy", "podSelector"))
        if o["kind"] == kind
    ]
    assert any(name.startswith("NetworkPolicy/") for name, _ in selectors)
    for name, selector in selectors:
        assert any(_selects(selector, labels) for labels in templates), (overlay, name)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_rewritten_and_kustomize_warns_of_nothing(overlay: str) -> None:
    out = kustomize(overlay)
    assert out.stderr.strip() == "", out.stderr
    for name, spec in pod_specs([o for o in yaml.safe_load_all(out.stdout) if o]):
        for container in spec["containers"]:
            assert container["image"].startswith("ghcr.io/cryptoscreener-x/csx:"), name


def test_live_network_policy_admits_only_the_api_port() -> None:
    objects = [o for o in yaml.safe_load_all(render("sharded")) if o]
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ports = [p for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert ports == [{"protocol": "TCP", "port": 8080}]
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 443, 5000}


# --- Dagster on Kubernetes: the namespace objects (kustomize) and the Helm values -------------
# The chart itself cannot be fetched offline, so its inputs are checked piece by piece: the
# objects the release expects render and validate, the raw pod fragments validate as a Pod,
# and the run queue validates against Dagster's own QueuedRunCoordinator schema.

DAGSTER_DIR = REPO_ROOT / "k8s" / "dagster"


def render_dagster_objects() -> list[dict[str, Any]]:
    kubectl = require_tool("kubectl", "kubernetes-client")
    out = subprocess.run(
        [kubectl, "kustomize", str(DAGSTER_DIR)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stderr.strip() == "", out.stderr
    return [o for o in yaml.safe_load_all(out.stdout) if o]


def dagster_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((DAGSTER_DIR / "values.yaml").read_text())
    return values


def validate_strict(objects: list[dict[str, Any]], path: Path) -> None:
    path.write_text(yaml.safe_dump_all(objects))
    validator = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(validator), "--strict", "--quiet", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dagster_namespace_objects_render_and_validate(tmp_path: Path) -> None:
    objects = render_dagster_objects()
    validate_strict(objects, tmp_path / "dagster.yaml")
    by_kind = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    assert set(by_kind) == {
        ("ConfigMap", "csx-pipelines"),
        ("Secret", "csx-pipelines"),
        ("PersistentVolumeClaim", "csx-lake"),
    }
    assert all(o["metadata"]["namespace"] == "csx-prod" for o in objects)
    # Run pods of different partitions write the same lake at once.
    assert by_kind[("PersistentVolumeClaim", "csx-lake")]["spec"]["accessModes"] == [
        "ReadWriteMany"
    ]
    assert all(v == "" for v in by_kind[("Secret", "csx-pipelines")]["stringData"].values())


def test_dagster_pipelines_settings_select_a_known_executor() -> None:
    from csx_pipelines.executors import EXECUTORS, parse_max_concurrent

    (config,) = [o for o in render_dagster_objects() if o["kind"] == "ConfigMap"]
    assert config["data"]["CSX_EXECUTOR"] == "k8s"
    assert config["data"]["CSX_EXECUTOR"] in EXECUTORS
    assert parse_max_concurrent(config["data"]["CSX_MAX_CONCURRENT"]) >= 1
    assert config["data"]["CSX_DATA_DIR"] == "/data"


def test_dagster_values_refer_only_to_rendered_objects() -> None:
    values = dagster_values()
    rendered = {(o["kind"], o["metadata"]["name"]) for o in render_dagster_objects()}
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    for env in (deployment, k8s):
        assert {("ConfigMap", c["name"]) for c in env["envConfigMaps"]} <= rendered
        assert {("Secret", s["name"]) for s in env["envSecrets"]} <= rendered
    pod_spec = k8s["runK8sConfig"]["podSpecConfig"]
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in [*deployment["volumes"], *pod_spec["volumes"]]
    }
    assert {("PersistentVolumeClaim", c) for c in claims} <= rendered
    mounts = k8s["runK8sConfig"]["containerConfig"]["volumeMounts"]
    assert {m["mountPath"] for m in [*deployment["volumeMounts"], *mounts]} == {"/data"}


def test_dagster_run_pod_fragments_validate_as_a_pod(tmp_path: Path) -> None:
    values = dagster_values()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    run = values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "dagster-run"},
        "spec": {
            **run["podSpecConfig"],
            "containers": [{"name": "dagster", "image": image, **run["containerConfig"]}],
        },
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "dagster-run"},
        "spec": {
            **run["jobSpecConfig"],
            "template": {"spec": {**pod["spec"], "restartPolicy": "Never"}},
        },
    }
    validate_strict([pod, job], tmp_path / "run-pod.yaml")
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    container = pod["spec"]["containers"][0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "limits" in container["resources"]


def test_dagster_run_queue_values_are_valid_dagster_config() -> None:
    from dagster._config import process_config
    from dagster._core.run_coordinator import QueuedRunCoordinator

    daemon = dagster_values()["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    # The chart's mapping into dagster.yaml (templates/helpers/instance/_run-coordinator.tpl):
    # these keys renamed, the limit entries passed through unchanged.
    chart_keys = {
        "maxConcurrentRuns": "max_concurrent_runs",
        "tagConcurrencyLimits": "tag_concurrency_limits",
        "dequeueIntervalSeconds": "dequeue_interval_seconds",
    }
    assert set(queued) <= set(chart_keys), set(queued) - set(chart_keys)
    config = {chart_keys[k]: v for k, v in queued.items()}
    result = process_config(QueuedRunCoordinator.config_type(), config)
    assert result.success, [e.message for e in result.errors or []]
    limits = {limit["key"]: limit["limit"] for limit in config["tag_concurrency_limits"]}
    # A backfill fans out but never takes every run slot.
    assert 1 < limits["dagster/backfill"] < config["max_concurrent_runs"]
