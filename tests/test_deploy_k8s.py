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
