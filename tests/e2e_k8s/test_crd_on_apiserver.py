"""The MPIJob CRDs as a real kube-apiserver sees them (no Metacontroller needed).

The apiserver, not a schema linter, decides whether the CRDs are structural,
whether the status subresource is on (Metacontroller ignores the controller
otherwise), whether every shipped example and the children `mpifn render` makes of it
pass (server-side dry run, strict field validation), and whether `mpifn render` names
unknown fields as the apiserver does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mpifn.cli import job_problems, render
from testkit.cluster import REPO_ROOT
from testkit.kubectl import KubectlError

from .conftest import CRDS

pytestmark = pytest.mark.e2e_k8s

EXAMPLES = sorted((REPO_ROOT / "examples").rglob("*.yaml"))
IDS = [str(p.relative_to(REPO_ROOT / "examples")) for p in EXAMPLES]


def dry_run(k8s_cluster, text: str) -> list[dict]:
    args = ("apply", "--dry-run=server", "--validate=strict", "-n", "default", "-f", "-", "-o", "json")
    out = k8s_cluster.kubectl(*args, input=text)
    return out.get("items", [out]) if isinstance(out, dict) else []


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


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_example_and_its_children_pass_the_apiserver(k8s_cluster, mpijob_crd, example: Path):
    # server-side dry run: admission and the schemas judge them strictly, nothing is stored
    assert [i["kind"] for i in dry_run(k8s_cluster, example.read_text())] == ["MPIJob"], example
    children = dry_run(k8s_cluster, render(example, show_status=False))
    assert sorted(c["kind"] for c in children) == ["ConfigMap", "Job", "Secret", "Service", "StatefulSet"]


def test_render_names_unknown_fields_as_the_apiserver_does(k8s_cluster, mpijob_crd):
    job = yaml.safe_load((REPO_ROOT / "examples" / "hello.yaml").read_text())
    job["metadata"]["labelz"] = {"a": "b"}
    job["spec"]["slotPerWorker"] = job["spec"].pop("slotsPerWorker")
    job["spec"]["runPolicy"] = {"suspnd": True}
    with pytest.raises(KubectlError) as refused:
        dry_run(k8s_cluster, yaml.safe_dump(job))
    apiserver = set(re.findall(r'unknown field "[^"]+"', str(refused.value)))
    assert (
        apiserver
        == set(job_problems(job))
        == {
            'unknown field "metadata.labelz"',
            'unknown field "spec.slotPerWorker"',
            'unknown field "spec.runPolicy.suspnd"',
        }
    )


def first_template(job: dict) -> dict:
    spec = job["spec"]
    return spec["template"] if "template" in spec else spec["mpiReplicaSpecs"]["Launcher"]["template"]


@pytest.mark.parametrize("example", ["hello.yaml", "kubeflow-v2beta1.yaml", "seed-v1.yaml"])
def test_a_typo_inside_a_pod_template_is_refused_and_named_as_render_names_it(k8s_cluster, mpijob_crd, example):
    job = yaml.safe_load((REPO_ROOT / "examples" / example).read_text())
    container = first_template(job)["spec"]["containers"][0]
    container["comand"] = container.pop("command")
    first_template(job)["metadata"] = {"lables": {"a": "b"}}
    with pytest.raises(KubectlError) as refused:
        dry_run(k8s_cluster, yaml.safe_dump(job))
    apiserver = set(re.findall(r'unknown field "[^"]+"', str(refused.value)))
    assert apiserver == set(job_problems(job))
    assert len(apiserver) == 2 and all(".template." in problem for problem in apiserver)


def test_kubeflow_fields_mpifn_refuses_are_kept_by_the_apiserver(k8s_cluster, mpijob_crd):
    """Stored as written (not pruned), so that sync can refuse them saying why."""
    job = yaml.safe_load((REPO_ROOT / "examples" / "kubeflow-v2beta1.yaml").read_text())
    job["spec"]["runLauncherAsWorker"] = True
    job["spec"]["runPolicy"]["schedulingPolicy"] = {"queue": "research", "minResources": {"cpu": "2"}}
    (stored,) = dry_run(k8s_cluster, yaml.safe_dump(job))
    assert stored["spec"]["runLauncherAsWorker"] is True
    assert stored["spec"]["runPolicy"]["schedulingPolicy"] == job["spec"]["runPolicy"]["schedulingPolicy"]
    assert any("not implemented by mpifn" in problem for problem in job_problems(job))


def test_each_crd_takes_a_client_side_apply(k8s_cluster, mpijob_crd):
    """The README applies with client-side `kubectl apply -k`: its last-applied annotation
    holds the whole CRD, and annotations hold at most 256 KiB."""
    for crd in CRDS:
        args = ("apply", "--dry-run=server", "-f", "-", "-o", "name")
        assert k8s_cluster.kubectl(*args, input=json.dumps(crd)).strip().endswith(crd["metadata"]["name"])


def test_the_upgrade_selectors_pick_the_crds_then_all_but_the_controllers(k8s_cluster, compositecontroller_kind):
    # README, Upgrading: step 1 applies the CRDs alone, step 2 everything but the controllers.
    folder = str(REPO_ROOT / "deploy" / "plain")
    crd = "customresourcedefinition.apiextensions.k8s.io/mpijobs.mpifn.dev"
    explanations = "customresourcedefinition.apiextensions.k8s.io/mpijobexplanations.mpifn.dev"

    def picked(selector: str) -> list[str]:
        args = ("apply", "--server-side", "--dry-run=server", "-k", folder, "-l", selector, "-o", "name")
        return sorted(k8s_cluster.kubectl(*args).split())

    assert picked("app.kubernetes.io/component=crd") == [explanations, crd]
    rest = picked("app.kubernetes.io/component notin (controller)")
    assert {crd, "deployment.apps/sync", "service/sync", "deployment.apps/probe"} <= set(rest)
    assert not [name for name in rest if "compositecontroller" in name]
    controllers = picked("app.kubernetes.io/component=controller")
    assert controllers == [
        "compositecontroller.metacontroller.k8s.io/mpifn-explain",
        "compositecontroller.metacontroller.k8s.io/mpifn-mpijob",
    ]
