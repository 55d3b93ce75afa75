"""Every kustomization the project ships builds with the real kubectl, and each overlay
changes what it says it changes."""

import subprocess

import pytest
import yaml

from .cluster import REPO_ROOT, tool_binary

KUSTOMIZATIONS = sorted(
    str(path.parent.relative_to(REPO_ROOT))
    for pattern in (
        "metacontroller/**/kustomization.yaml",
        "metacontroller/kustomization.yaml",
        "deploy/**/kustomization.yaml",
        "knative/kustomization.yaml",
    )
    for path in REPO_ROOT.glob(pattern)
)


def build(directory: str) -> list[dict]:
    result = subprocess.run(
        [str(tool_binary("kubernetes", "kubectl")), "kustomize", str(REPO_ROOT / directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory}: {result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def controllers(documents: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == "CompositeController"}


def test_every_shipped_kustomization_is_found():
    assert {
        "metacontroller",
        "metacontroller/base",
        "metacontroller/knative",
        "metacontroller/kubeflow",
        "metacontroller/seed",
        "metacontroller/gang-volcano",
        "metacontroller/gang-scheduler-plugins",
    } <= set(KUSTOMIZATIONS)


@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
def test_kustomization_builds(directory):
    kinds = {d["kind"] for d in build(directory)}
    assert kinds & {"CompositeController", "Service"}, f"{directory} builds {kinds}"


def test_knative_overlay_points_hooks_at_the_services():
    hooks = controllers(build("metacontroller/knative"))["mpifn-mpijob"]["spec"]["hooks"]
    assert hooks["sync"]["webhook"]["url"] == "http://sync.mpifn.svc.cluster.local"
    assert hooks["finalize"]["webhook"]["url"] == "http://finalize.mpifn.svc.cluster.local"


@pytest.mark.parametrize(
    ("overlay", "api_version"),
    [
        ("metacontroller/gang-volcano", "scheduling.volcano.sh/v1beta1"),
        ("metacontroller/gang-scheduler-plugins", "scheduling.x-k8s.io/v1alpha1"),
    ],
)
def test_gang_overlays_add_the_podgroup_rule(overlay, api_version):
    rules = controllers(build(overlay))["mpifn-mpijob"]["spec"]["childResources"]
    assert {"apiVersion": api_version, "resource": "podgroups", "updateStrategy": {"method": "InPlace"}} in rules


@pytest.mark.parametrize(
    ("overlay", "parent"),
    [
        ("metacontroller/kubeflow", "kubeflow.org/v2beta1"),
        ("metacontroller/seed", "skatelescope.org/v1"),
    ],
)
def test_api_overlays_add_a_second_controller(overlay, parent):
    parents = {c["spec"]["parentResource"]["apiVersion"] for c in controllers(build(overlay)).values()}
    assert parents == {"mpifn.dev/v1", parent}
