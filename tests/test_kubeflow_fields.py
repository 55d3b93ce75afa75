"""Kubeflow's v2beta1 MPIJob fields that mpifn does not implement: the CRD keeps them, and
sync and `mpifn render` refuse them saying so, instead of running the job without them."""

import copy
import subprocess
import sys
from datetime import timedelta

import pytest
import yaml

from mpifn.errors import InvalidSpec
from mpifn.manifests import generated_manifests
from mpifn.spec import parse_job
from testkit import calls
from testkit.metacontroller import hook_request, with_status
from tests.conftest import FIXTURES, ROOT, load_yaml
from tests.test_hooks import T0, settle

# field path -> (value mpifn refuses, the message's reason and remedy)
REFUSED = {
    "runLauncherAsWorker": (
        True,
        "spec.runLauncherAsWorker: not implemented by mpifn (Kubeflow PR 612, the launcher also running MPI "
        "ranks); remove it or set false",
    ),
    "runPolicy.schedulingPolicy": (
        {"queue": "research", "minAvailable": 3},
        "spec.runPolicy.schedulingPolicy: not implemented by mpifn (gang scheduling is the gang-volcano or "
        "gang-scheduler-plugins Component, minMember = workers + 1); remove it",
    ),
    "mpiReplicaSpecs.Launcher.restartPolicy": (
        "OnFailure",
        'spec.mpiReplicaSpecs.Launcher.restartPolicy: "OnFailure" not implemented by mpifn (the launcher\'s pod '
        "never restarts in place; runPolicy.backoffLimit retries it in a new pod); remove it or set Never",
    ),
    "mpiReplicaSpecs.Worker.restartPolicy": (
        "Never",
        'spec.mpiReplicaSpecs.Worker.restartPolicy: "Never" not implemented by mpifn (workers are StatefulSet '
        "pods, restarted whenever they stop); remove it or set OnFailure",
    ),
}
# What says what mpifn does anyway (Kubeflow's CRD writes runLauncherAsWorker: false itself).
ACCEPTED = {
    "runLauncherAsWorker": False,
    "runPolicy.schedulingPolicy": {},
    "runPolicy.managedBy": "kubeflow.org/mpi-operator",
    "mpiReplicaSpecs.Launcher.restartPolicy": "Never",
    "mpiReplicaSpecs.Worker.restartPolicy": "OnFailure",
}
# Every field of Kubeflow's MPIJobSpec (github.com/kubeflow/mpi-operator v0.8.0,
# pkg/apis/kubeflow/v2beta1/types.go) above the pod templates.
KUBEFLOW_FIELDS = {
    "slotsPerWorker", "runLauncherAsWorker", "sshAuthMountPath", "launcherCreationPolicy", "mpiImplementation",
    "runPolicy", "runPolicy.cleanPodPolicy", "runPolicy.ttlSecondsAfterFinished", "runPolicy.activeDeadlineSeconds",
    "runPolicy.backoffLimit", "runPolicy.schedulingPolicy", "runPolicy.suspend", "runPolicy.managedBy",
    "mpiReplicaSpecs", *(f"mpiReplicaSpecs.{role}{field}" for role in ("Launcher", "Worker")
                         for field in ("", ".replicas", ".template", ".restartPolicy")),
}  # fmt: skip


def kubeflow_job(**fields) -> dict:
    job = load_yaml(FIXTURES / "kubeflow-pi.yaml")
    for path, value in fields.items():
        *parents, name = path.split(".")
        node = job["spec"]
        for parent in parents:
            node = node.setdefault(parent, {})
        node[name] = value
    return job


@pytest.mark.parametrize("path", sorted(REFUSED))
def test_a_field_mpifn_does_not_implement_is_refused_saying_so(path, settings):
    value, message = REFUSED[path]
    with pytest.raises(InvalidSpec) as raised:
        parse_job(kubeflow_job(**{path: value}), settings)
    assert raised.value.problems == [message]


@pytest.mark.parametrize("path", sorted(ACCEPTED))
def test_a_value_that_says_what_mpifn_does_is_accepted(path, settings):
    job = parse_job(kubeflow_job(**{path: ACCEPTED[path]}), settings)
    assert (job.replicas, job.launcher_template["spec"]["containers"][0]["command"]) == (2, ["mpirun"])


def test_kubeflow_crd_defaults_are_accepted(settings):
    """What Kubeflow's own CRD writes into every MPIJob it stores."""
    job = kubeflow_job(
        runLauncherAsWorker=False,
        launcherCreationPolicy="AtStartup",
        mpiImplementation="OpenMPI",
        slotsPerWorker=1,
        **{"runPolicy.suspend": False},
    )
    parse_job(job, settings)


def test_a_new_job_asking_for_them_fails_naming_each_and_gets_no_child():
    job = kubeflow_job(**{path: value for path, (value, _) in REFUSED.items()})
    response = calls.sync(hook_request(job), now=T0)
    status = response["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec")
    assert status["message"] == "invalid spec: " + "; ".join(sorted(message for _, message in REFUSED.values()))
    assert response["children"] == []


def test_a_running_job_edited_to_ask_for_one_keeps_its_children():
    parent, observed, first = settle(kubeflow_job())
    observed = with_status(observed, "Job", {"active": 1})
    running = calls.sync(hook_request(parent, observed), now=T0)["status"]
    edited = copy.deepcopy({**parent, "status": running})
    edited["spec"]["runLauncherAsWorker"] = True
    response = calls.sync(hook_request(edited, observed), now=T0 + timedelta(minutes=1))
    assert response["status"]["reason"] == "SpecInvalid"
    assert REFUSED["runLauncherAsWorker"][1] in response["status"]["message"]
    assert response["children"] == first["children"]


def test_render_refuses_them(tmp_path):
    path = tmp_path / "kubeflow.yaml"
    path.write_text(yaml.safe_dump(kubeflow_job(runLauncherAsWorker=True)))
    result = subprocess.run(
        [sys.executable, "-m", "mpifn", "render", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"mpifn render: {path}: document 1 (pi): {REFUSED['runLauncherAsWorker'][1]}"]


def field_paths(schema: dict, prefix: str = "") -> set[str]:
    found = set()
    for name, child in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        found.add(path)
        if not path.endswith(".template"):
            found |= field_paths(child, f"{path}.")
    return found


def test_the_kubeflow_crd_declares_every_kubeflow_field_so_none_is_pruned_unseen():
    (crd,) = [
        document
        for documents in generated_manifests().values()
        for document in documents
        if document["kind"] == "CustomResourceDefinition" and document["spec"]["group"] == "kubeflow.org"
    ]
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert field_paths(spec) == KUBEFLOW_FIELDS
    assert spec["properties"]["runPolicy"]["properties"]["schedulingPolicy"]["x-kubernetes-preserve-unknown-fields"]


@pytest.mark.parametrize("role", ["Launcher", "Worker"])
def test_a_role_without_containers_is_an_invalid_spec_not_a_500(role):
    """The CRD allows `containers: []`; the builders take the first container."""
    job = load_yaml(ROOT / "examples" / "kubeflow-v2beta1.yaml")
    job["metadata"]["namespace"] = "default"
    job["spec"]["mpiReplicaSpecs"][role]["template"]["spec"]["containers"] = []
    answer = calls.sync(hook_request(job), now=T0)
    assert answer["children"] == []
    assert answer["status"]["message"] == (
        f"invalid spec: spec.mpiReplicaSpecs.{role}.template.spec.containers: must be a non-empty list of containers"
    )
