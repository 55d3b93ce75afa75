"""The MPIJob CRD as a real kube-apiserver sees it (no Metacontroller needed).

The apiserver, not a schema linter, decides whether the CRD is structural,
whether the status subresource is on (Metacontroller ignores the controller
otherwise) and whether the shipped examples pass the schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .cluster import REPO_ROOT

pytestmark = pytest.mark.e2e_k8s

CRD_FILE = REPO_ROOT / "metacontroller" / "base" / "crd.yaml"
EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def mpijob_crd(k8s_cluster):
    out = k8s_cluster.kubectl("apply", "--server-side", "-f", str(CRD_FILE), "-o", "json")
    items = out.get("items", [out]) if isinstance(out, dict) else []
    crds = [i for i in items if i.get("kind") == "CustomResourceDefinition"]
    assert crds, f"{CRD_FILE} defines no CustomResourceDefinition"
    names = [c["metadata"]["name"] for c in crds]
    k8s_cluster.wait_crds_established(names)
    return [k8s_cluster.get("crd", name) for name in names]


def test_crd_is_established_with_status_subresource(mpijob_crd):
    for crd in mpijob_crd:
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True"
        assert conditions.get("NonStructuralSchema", "False") != "True"
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                assert "status" in version.get("subresources", {}), (
                    f"{crd['metadata']['name']} {version['name']}: no status subresource"
                )


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_passes_the_schema(k8s_cluster, mpijob_crd, example: Path):
    # server-side dry run: admission and the CRD's schema judge it, nothing is stored
    out = k8s_cluster.kubectl("apply", "--dry-run=server", "-f", str(example), "-o", "json")
    items = out.get("items", [out]) if isinstance(out, dict) else []
    assert items, f"{example.name}: nothing accepted"
