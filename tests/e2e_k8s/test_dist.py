"""The release manifests `make dist` writes (issue 19, item 2), built with the real kubectl.

One file per ready kustomization of deploy/, holding every object of its variant (the
generated base, the functions of plain/ or knative/) with every image under the release's
registry and tag and the hooks wired as the variant says; and each accepted by a real
kube-apiserver: its CRDs applied for real, server-side, as `kubectl apply -f FILE -l
app.kubernetes.io/component=crd` applies them (README, Upgrading), then every object of the
file in a server-side dry run with strict field validation. This apiserver serves no
Knative, so the knative variants' Knative Services are left out of the dry run, and the
test names exactly those; nothing else is left out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mpifn import manifests
from mpifn.cli import dist_name, write_dist
from testkit.cluster import REPO_ROOT, Cluster
from testkit.tools import tool_binary

from .test_kustomizations import READY, assert_wired

pytestmark = pytest.mark.e2e_k8s

REGISTRY, TAG = "registry.example:5000/team", "1.2.3"
VARIANTS = sorted(folder.removeprefix("deploy/") for folder in READY)
# What each variant deploys besides the generated base (metacontroller/base): its functions.
FUNCTIONS = {
    "openfaas": None,
    "knative": REPO_ROOT / "knative" / "functions.yaml",
    "plain": REPO_ROOT / "plain" / "functions.yaml",
}
DEFAULT_IMAGE = re.compile(r"(docker\.io/)?mpifn/(mpibase|sync|finalize|probe)\b")
KNATIVE_SERVING = "serving.knative.dev/v1"
FUNCTIONS_NAMESPACE = manifests.FUNCTIONS_NAMESPACE


def key(document: dict) -> tuple[str, str, str, str]:
    metadata = document["metadata"]
    return document["apiVersion"], document["kind"], metadata.get("namespace", ""), metadata["name"]


def loaded(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """`make dist REGISTRY=registry.example:5000/team TAG=1.2.3`, with the tool cache's kubectl."""
    out = tmp_path_factory.mktemp("dist")
    assert write_dist(REPO_ROOT, REGISTRY, TAG, out, str(tool_binary("kubernetes", "kubectl"))) == 0
    return out


def test_one_release_manifest_per_ready_kustomization(dist):
    assert sorted(path.name for path in dist.iterdir()) == sorted(dist_name(variant) for variant in VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_release_manifest_holds_every_object_of_its_variant_with_the_release_images(dist, variant):
    documents = loaded(dist / dist_name(variant))
    target, auth = READY[f"deploy/{variant}"]
    base = [
        d for path, docs in manifests.generated_manifests().items() if path.parent == manifests.BASE_DIR for d in docs
    ]
    functions = FUNCTIONS[target]
    expected = [d for d in base if d["kind"] != "Kustomization"] + (loaded(functions) if functions else [])
    assert sorted(map(key, documents)) == sorted(map(key, expected))
    assert_wired(documents, target, auth, None, ())
    text = yaml.safe_dump_all(documents)
    assert not DEFAULT_IMAGE.search(text.replace(f"{REGISTRY}/", "")), "a default image name is left"
    for document in documents:
        spec = document.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            name = document["metadata"]["name"]
            assert container["image"] == f"{REGISTRY}/{name}:{TAG}", name
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["MPIFN_DEFAULT_IMAGE"] == env["MPIFN_INIT_IMAGE"] == f"{REGISTRY}/mpibase:{TAG}", name


def served_kinds(cluster: Cluster, api_version: str) -> set[str]:
    """The kinds the apiserver serves in `api_version` (discovery); none for a group it does not know."""
    path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    result = cluster.kubectl_run("get", "--raw", path, check=False)
    if result.returncode != 0:
        assert "NotFound" in result.stderr, f"kubectl get --raw {path}: {result.stderr}"
        return set()
    return {resource["kind"] for resource in json.loads(result.stdout)["resources"] if "/" not in resource["name"]}


def object_name(document: dict) -> str:
    """As `kubectl apply -o name` prints it: kind.group/name."""
    group = document["apiVersion"].rpartition("/")[0]
    return f"{document['kind'].lower()}{'.' + group if group else ''}/{document['metadata']['name']}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_release_manifest_applies_server_side_on_the_apiserver(
    k8s_cluster, compositecontroller_kind, dist, variant
):
    path = dist / dist_name(variant)
    documents = loaded(path)
    # kubectl maps every object of a file before it filters by label: what this apiserver does
    # not serve is left out of both steps.
    unserved = [d for d in documents if d["kind"] not in served_kinds(k8s_cluster, d["apiVersion"])]
    knative_services = [(KNATIVE_SERVING, "Service", FUNCTIONS_NAMESPACE, name) for name in manifests.FUNCTIONS]
    expected = knative_services if READY[f"deploy/{variant}"][0] == "knative" else []
    assert sorted(map(key, unserved)) == sorted(expected), "objects of kinds this apiserver does not serve"
    served = [d for d in documents if d not in unserved]
    source = {"input": json.dumps({"apiVersion": "v1", "kind": "List", "items": served})} if unserved else {}

    def apply(*args: str) -> list[str]:
        """`kubectl apply --server-side -f FILE ARGS -o name`; FILE without what is not served here."""
        file = "-" if unserved else str(path)
        return sorted(k8s_cluster.kubectl("apply", "--server-side", *args, "-f", file, "-o", "name", **source).split())

    crds = [d for d in documents if d["kind"] == "CustomResourceDefinition"]
    assert apply("-l", "app.kubernetes.io/component=crd") == sorted(map(object_name, crds))
    k8s_cluster.wait_crds_established([crd["metadata"]["name"] for crd in crds])
    dry_run = apply("--force-conflicts", "--dry-run=server", "--validate=strict")
    assert dry_run == sorted(map(object_name, served))
