"""The kustomize Components combine: every combination of hook target, bearer token, gang
scheduler, extra APIs, in either order, builds with the real kubectl, and in each one every
CompositeController sends every hook to the chosen target, with the token when auth is on.
The ready kustomizations in deploy/ are such combinations, and an overlay written by
`mpifn overlay` leaves no default image name anywhere."""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from mpifn import manifests
from mpifn.cli import write_overlay
from testkit.cluster import REPO_ROOT
from testkit.tools import tool_binary

COMPONENTS = REPO_ROOT / "deploy" / "components"
TOKENS = {"openfaas": manifests.OPENFAAS_TOKEN, "knative": manifests.TOKEN, "plain": manifests.TOKEN}
GANGS = {None: None, **{name: gang.api_version for name, gang in manifests.GANG_COMPONENTS.items()}}
APIS = {"kubeflow": "kubeflow.org/v2beta1", "seed": "skatelescope.org/v1"}
# The ready kustomizations the README documents: folder -> (target, auth on).
READY = {
    "deploy/openfaas": ("openfaas", False),
    "deploy/openfaas-auth": ("openfaas", True),
    "deploy/knative": ("knative", False),
    "deploy/knative-auth": ("knative", True),
    "deploy/plain": ("plain", False),
    "deploy/plain-auth": ("plain", True),
}


def kustomize(directory: Path) -> list[dict]:
    result = subprocess.run(
        [str(tool_binary("kubernetes", "kubectl")), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory}: {result.stderr}"
    # libyaml's loader: the CRDs with their pod template schemas make hundreds of KB per build
    return [doc for doc in yaml.load_all(result.stdout, Loader=yaml.CSafeLoader) if doc]


def controllers(documents: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == "CompositeController"}


def combination(tmp_path: Path, components: list[str]) -> list[dict]:
    def relative(path: Path) -> str:  # kustomize refuses absolute paths
        return os.path.relpath(path, tmp_path)

    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [relative(REPO_ROOT / "metacontroller" / "base")],
                "components": [relative(COMPONENTS / name) for name in components],
            }
        )
    )
    return kustomize(tmp_path)


def assert_wired(
    documents: list[dict],
    target: str,
    auth: bool,
    gang: str | None,
    apis: tuple[str, ...],
    pod_status: bool = True,
    metrics: bool = False,
) -> None:
    """One controller per MPIJob API (sync, finalize; asking for explanations unless
    no-pod-status) and the explain controller (sync, and customize unless no-pod-status);
    with the metrics Component, kube-state-metrics' configuration and role."""
    found = controllers(documents)
    # Each API's aggregated roles come with it (tests/e2e_k8s/test_aggregated_roles.py uses them).
    roles = {d["metadata"]["name"] for d in documents if d["kind"] == "ClusterRole"}
    owners = [manifests.MAIN_CONTROLLER, *(manifests.FOREIGN_APIS[api][0] for api in apis)]
    reader = manifests.KUBE_STATE_METRICS.name
    assert roles == {f"{owner}-{role}" for owner in owners for role in ("edit", "view")} | (
        {reader} if metrics else set()
    )
    assert_metrics(documents, metrics)
    parents = {
        (c["spec"]["parentResource"]["apiVersion"], c["spec"]["parentResource"]["resource"]) for c in found.values()
    }
    assert parents == {
        ("mpifn.dev/v1", "mpijobs"),
        ("mpifn.dev/v1", "mpijobexplanations"),
        *((APIS[api], "mpijobs") for api in apis),
    }

    def expected_hooks(hooks: tuple[str, ...]) -> dict:
        return {
            hook: {
                "version": "v2",
                "webhook": {
                    "url": manifests.HOOK_TARGETS[target].hook_url(hook),
                    "timeout": "10s",
                    **({"authorization": TOKENS[target].reference()} if auth else {}),
                },
            }
            for hook in hooks
            if pod_status or hook != "customize"
        }

    for name, controller in found.items():
        explains = controller["spec"]["parentResource"]["resource"] == "mpijobexplanations"
        hooks = manifests.EXPLAIN_HOOKS if explains else manifests.MPIJOB_HOOKS
        assert controller["spec"]["hooks"] == expected_hooks(hooks), name
        labels = controller["metadata"]["labels"]
        assert (manifests.POD_STATUS_LABEL in labels) == pod_status, name
        podgroups = [r["apiVersion"] for r in controller["spec"]["childResources"] if r["resource"] == "podgroups"]
        assert podgroups == ([GANGS[gang]] if gang and not explains else []), name


def assert_metrics(documents: list[dict], metrics: bool) -> None:
    """The metrics Component's objects as generated, whatever else was built: its
    configuration names every MPIJob API, installed or not (kube-state-metrics skips those
    without a CRD)."""
    expected = {(d["kind"], d["metadata"]["name"]): d for d in METRICS_OBJECTS}
    built = {(d["kind"], d["metadata"]["name"]): d for d in documents if (d["kind"], d["metadata"]["name"]) in expected}
    assert built == (expected if metrics else {})


METRICS_OBJECTS = manifests.generated_manifests()[manifests.COMPONENTS_DIR / manifests.METRICS / "metrics.yaml"]
COMBINATIONS = [
    (target, auth, gang, apis, pod_status)
    for target in manifests.HOOK_TARGETS
    for auth in (False, True)
    for gang in GANGS
    for apis in ((), ("kubeflow",), ("seed",), ("kubeflow", "seed"))
    for pod_status in (True, False)
]


def test_every_component_is_in_the_combinations():
    # `images` renames images in environment values; it leaves controllers alone.
    on_disk = {path.parent.name for path in COMPONENTS.glob("*/kustomization.yaml")} - {"images"}
    named = set(manifests.HOOK_TARGETS) | {t.component for t in TOKENS.values()} | set(GANGS) - {None} | set(APIS)
    assert on_disk == named | {manifests.NO_POD_STATUS, manifests.METRICS}


@pytest.mark.parametrize(("target", "auth", "gang", "apis", "pod_status"), COMBINATIONS)
def test_components_combine_in_any_order(tmp_path, target, auth, gang, apis, pod_status):
    parts = [
        target,
        *([TOKENS[target].component] if auth else []),
        *([gang] if gang else []),
        *apis,
        *([] if pod_status else [manifests.NO_POD_STATUS]),
    ]
    for order, components in enumerate((parts, parts[::-1])):
        folder = tmp_path / str(order)
        folder.mkdir()
        assert_wired(combination(folder, components), target, auth, gang, apis, pod_status)


# The metrics Component adds objects and patches none: it is built with each hook target,
# alone and after or before every other kind of Component.
METRICS_COMBINATIONS = [
    (target, auth, gang, apis, pod_status)
    for target in manifests.HOOK_TARGETS
    for auth, gang, apis, pod_status in ((False, None, (), True), (True, "gang-volcano", ("kubeflow", "seed"), False))
]


@pytest.mark.parametrize(("target", "auth", "gang", "apis", "pod_status"), METRICS_COMBINATIONS)
def test_the_metrics_component_combines_with_the_others(tmp_path, target, auth, gang, apis, pod_status):
    parts = [
        target,
        *([TOKENS[target].component] if auth else []),
        *([gang] if gang else []),
        *apis,
        *([] if pod_status else [manifests.NO_POD_STATUS]),
    ]
    for order, components in enumerate(([*parts, manifests.METRICS], [manifests.METRICS, *parts[::-1]])):
        folder = tmp_path / str(order)
        folder.mkdir()
        assert_wired(combination(folder, components), target, auth, gang, apis, pod_status, metrics=True)


def test_without_components_the_hooks_are_on_the_openfaas_gateway(tmp_path):
    assert_wired(combination(tmp_path, []), "openfaas", False, None, ())


def test_every_ready_kustomization_is_documented():
    found = {str(p.parent.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "deploy").glob("*/kustomization.yaml")}
    assert found - {"deploy/components"} == set(READY)
    readme = (REPO_ROOT / "README.md").read_text()
    for folder in READY:
        assert f"{folder}/" in readme, folder
    for component in COMPONENTS.glob("*/kustomization.yaml"):
        assert f"| `{component.parent.name}`" in readme, f"README: no row for Component {component.parent.name}"


@pytest.mark.parametrize("folder", sorted(READY))
def test_ready_kustomizations_wire_their_target(folder):
    target, auth = READY[folder]
    documents = kustomize(REPO_ROOT / folder)
    assert_wired(documents, target, auth, None, ())
    # The upgrade order of the README selects by these labels.
    steps = {d["kind"]: d["metadata"].get("labels", {}).get("app.kubernetes.io/component") for d in documents}
    assert (steps.pop("CustomResourceDefinition"), steps.pop("CompositeController")) == ("crd", "controller")
    assert not set(steps.values()) & {"crd", "controller"}, steps
    functions = [d for d in documents if d["kind"] in ("Deployment", "Service") and "template" in d.get("spec", {})]
    expected = [] if target == "openfaas" else sorted(manifests.FUNCTIONS)
    assert sorted(d["metadata"]["name"] for d in functions) == expected
    for function in functions:
        env = {e["name"]: e.get("value") for e in function["spec"]["template"]["spec"]["containers"][0]["env"]}
        guarded = auth and function["metadata"]["name"] in manifests.GUARDED_FUNCTIONS
        assert ("MPIFN_AUTH_TOKEN_FILE" in env) == guarded, function["metadata"]["name"]
        # Every function holds the probe key: sync signs with it, the probe checks it.
        key_file = f"{manifests.PROBE_KEY_MOUNT_DIR}/{manifests.PROBE_KEY.key}" if auth else None
        assert env.get("MPIFN_PROBE_KEY_FILE") == key_file, function["metadata"]["name"]


def test_metacontroller_folder_still_builds_the_default_install():
    assert_wired(kustomize(REPO_ROOT / "metacontroller"), "openfaas", False, None, ())


DEFAULT_IMAGE = re.compile(r"(docker\.io/)?mpifn/(mpibase|sync|finalize|probe)\b")


@pytest.mark.parametrize("folder", sorted(READY))
def test_an_overlay_with_another_registry_leaves_no_default_image(tmp_path, folder):
    assert write_overlay(REPO_ROOT / folder, "registry.example:5000/team", "1.2.3", tmp_path / "overlay") == 0
    text = yaml.safe_dump_all(kustomize(tmp_path / "overlay"))
    assert not DEFAULT_IMAGE.search(text.replace("registry.example:5000/team/", "")), text
    if not folder.startswith("deploy/openfaas"):
        for name in manifests.IMAGES:
            assert f"registry.example:5000/team/{name}:1.2.3" in text
