"""The MPIJob status explains real pod failures on the real node: what the kubelet, runc and
the launcher's init step really reported, told in status.reason, the message and the
REASON column. All cases run at once in one namespace."""

from __future__ import annotations

import uuid

import pytest

from testkit.node import Node
from tests.e2e_k8s.jobs import MPIJOBS, hello

from .conftest import INIT_DEADLINE_SECONDS

pytestmark = pytest.mark.e2e_node

TIMEOUT = 240
# A registry on a loopback port where nothing listens: the pull fails at once, nothing leaves the machine.
UNPULLABLE = "127.0.0.1:1/mpifn-e2e/absent:1"
FOREIGN_IMAGE = "docker.io/library/debian:bookworm-slim"  # no /usr/local/bin/mpifn-worker


def case(namespace: str, name: str, replicas: int = 2, image: str | None = None, **spec) -> dict:
    job = hello(namespace, replicas=replicas, **spec)
    job["metadata"]["name"] = name
    if image:
        job["spec"]["image"] = image
    return job


def cases(namespace: str) -> dict[str, dict]:
    crash = case(namespace, "crash")
    crash["spec"]["worker"] = {"template": {"spec": {"containers": [{
        "name": "mpi", "env": [{"name": "MPIFN_SSHD", "value": "/nonexistent/sshd"}],
    }]}}}  # fmt: skip
    oom = case(namespace, "oom")
    oom["spec"]["launcher"] = {"template": {"spec": {"containers": [{
        "name": "mpi", "command": ["tail", "/dev/zero"], "resources": {"limits": {"memory": "48Mi"}},
    }]}}}  # fmt: skip
    return {
        "pull": case(namespace, "pull", image=UNPULLABLE),
        "crash": crash,
        "noworker": case(namespace, "noworker", image=FOREIGN_IMAGE),
        "oom": oom,
        "nossh": case(namespace, "nossh", daemons=True, minReplicas=2),
    }


@pytest.fixture(scope="module")
def submitted(operator, node: Node):
    namespace = f"explain-{uuid.uuid4().hex[:6]}"
    node.create_namespace(namespace)
    node.import_image(FOREIGN_IMAGE)
    node.apply(*cases(namespace).values())
    yield namespace
    node.kubectl_run("delete", "namespace", namespace, "--wait=false", check=False)


def reason_is(node: Node, namespace: str, name: str, reason: str, timeout: float) -> dict:
    return node.wait_for(
        lambda: (j := node.get(MPIJOBS, name, namespace)).get("status", {}).get("reason") == reason and j,
        f"MPIJob {name}: status.reason {reason}",
        timeout=timeout,
        interval=1,
    )


@pytest.mark.parametrize(
    ("name", "reason", "said"),
    [
        ("pull", "ImagePullBackOff", f'cannot pull image "{UNPULLABLE}" for container mpi'),
        ("crash", "CrashLoopBackOff", "container mpi keeps crashing (CrashLoopBackOff)"),
        ("noworker", "WorkerCommandMissing", "has no /usr/local/bin/mpifn-worker"),
        ("oom", "OOMKilled", "container mpi was OOMKilled (memory limit 48Mi)"),
        ("nossh", "WorkersUnreachable", "mpirun never started: 1 of 2 workers reachable, 2 needed"),
    ],
)
def test_each_real_failure_shows_in_the_mpijob_status(submitted, node, name, reason, said):
    job = reason_is(node, submitted, name, reason, timeout=TIMEOUT + INIT_DEADLINE_SECONDS)
    status = job["status"]
    assert said in status["message"], status["message"]
    header, row = node.kubectl("get", MPIJOBS, name, "-n", submitted).strip().splitlines()
    assert dict(zip(header.split(), row.split(), strict=False))["REASON"] == reason
    assert status["pods"]["problems"], status["pods"]
