"""Issue 10: MPIJobs run as real pods on a real node.

Every assertion is on what the pods really did (their logs, exit codes, the
containers containerd ran) and on objects read back with kubectl, never on
the MPIJob's conditions alone.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from mpifn import api, naming
from testkit.cluster import REPO_ROOT
from testkit.containers import project_images
from testkit.host import run
from testkit.node import Node
from tests.e2e_k8s.jobs import MPIJOBS, hello, phase_is, pods

from .conftest import INIT_DEADLINE_SECONDS

pytestmark = pytest.mark.e2e_node

TIMEOUT = 180
MAIN = "mpi"  # the container name of examples/hello.yaml
INIT = "mpifn-init"
USER_IMAGE = "localhost/mpifn-e2e/mpi-ring:1"
USER_IMAGE_DIR = REPO_ROOT / "examples" / "user-image"
FOREIGN_IMAGE = "docker.io/library/debian:bookworm-slim"  # not derived from mpibase


def launcher_pod(node: Node, namespace: str) -> dict:
    (pod,) = pods(node, namespace, api.ROLE_LAUNCHER)
    return pod


def logs(node: Node, namespace: str, pod: str, container: str) -> str:
    return node.kubectl("logs", "-n", namespace, pod, "-c", container)


# OpenMPI's own diagnostics start "[host:pid] ": e.g. its rsh launcher's harmless
# "plm:rsh: Warning: setpgid(10,10) failed in parent with errno=Permission denied(13)",
# printed now and then (a race with its own child) into the launcher's log
OPENMPI_DIAGNOSTIC = re.compile(r"^\[[^\]\s]+:\d+\] ")


def rank_output(node: Node, namespace: str, pod: str) -> list[str]:
    """The lines the ranks printed, from the launcher's log (OpenMPI's diagnostics left out)."""
    lines = logs(node, namespace, pod, MAIN).splitlines()
    return [line.strip() for line in lines if line.strip() and not OPENMPI_DIAGNOSTIC.match(line)]


def terminated(pod: dict, container: str, init: bool = False) -> dict:
    statuses = pod["status"].get("initContainerStatuses" if init else "containerStatuses", [])
    (state,) = [s for s in statuses if s["name"] == container]
    return state["state"].get("terminated", {})


def containers_in_containerd(node: Node, namespace: str) -> list[dict]:
    """Every container containerd still has for pods of the namespace (any state)."""
    listed = json.loads(node.crictl("ps", "-a", "-o", "json").stdout or "{}").get("containers", [])
    return [c for c in listed if c["labels"].get("io.kubernetes.pod.namespace") == namespace]


def running_pods_in_containerd(node: Node, namespace: str) -> set[str]:
    return {
        c["labels"]["io.kubernetes.pod.name"]
        for c in containers_in_containerd(node, namespace)
        if c["state"] == "CONTAINER_RUNNING"
    }


def sandboxes_in_containerd(node: Node, namespace: str) -> list[dict]:
    listed = json.loads(node.crictl("pods", "-o", "json").stdout or "{}").get("items", [])
    return [p for p in listed if p["metadata"].get("namespace") == namespace]


def worker_names(count: int) -> list[str]:
    return [naming.worker_pod_name("hello", i) for i in range(count)]


def run_to_the_end(node: Node, namespace: str, phase: str, timeout: float = TIMEOUT) -> dict:
    return node.wait_for(phase_is(node, namespace, phase), f"MPIJob phase {phase}", timeout=timeout, interval=1)


# --------------------------------------------------------------------------- a


def check_hello_ran_on_both_workers(node: Node, namespace: str, operator) -> None:
    job = run_to_the_end(node, namespace, "Succeeded")
    assert job["status"]["reason"] == "LauncherSucceeded"
    assert operator.errors(namespace) == []
    pod = launcher_pod(node, namespace)
    (init,) = pod["spec"]["initContainers"]
    assert {e["name"] for e in init["env"]} >= {"MPIFN_PROBE_SIGNATURE", "MPIFN_PROBE_EXPIRES"}, (
        "the probe is called with sync's signature (the probe pods verify it)"
    )
    assert terminated(pod, INIT, init=True)["exitCode"] == 0
    assert terminated(pod, MAIN)["exitCode"] == 0

    init_log = logs(node, namespace, pod["metadata"]["name"], INIT)
    assert "probe http://probe.mpifn.svc.cluster.local:8080" in init_log, init_log
    assert "wrote /etc/mpi/hostfile: 2 workers x 2 slots = 4 slots" in init_log, init_log
    # four ranks of `hostname`, two in each worker container
    ranks = rank_output(node, namespace, pod["metadata"]["name"])
    assert sorted(ranks) == sorted(worker_names(2) * 2), ranks

    # cleanPodPolicy Running (the default): the workers are removed, from containerd too
    node.wait_for(lambda: pods(node, namespace, api.ROLE_WORKER) == [], "worker pods removed", timeout=TIMEOUT)
    node.wait_for(
        lambda: (
            not {c["labels"]["io.kubernetes.pod.name"] for c in containers_in_containerd(node, namespace)}
            & set(worker_names(2))
        ),
        "the workers' containers removed from containerd",
        timeout=TIMEOUT,
    )


def test_a_hello_runs_four_ranks_over_ssh_in_two_workers(operator, node, namespace):
    node.apply(hello(namespace, replicas=2))
    check_hello_ran_on_both_workers(node, namespace, operator)


# --------------------------------------------------------------------------- b


def test_b_a_namespace_enforcing_restricted_runs_the_same_job(operator, node, namespace):
    node.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    node.apply(hello(namespace, replicas=2))
    check_hello_ran_on_both_workers(node, namespace, operator)
    events = node.get("events", namespace=namespace)
    assert not [e for e in events if "violates PodSecurity" in e.get("message", "")]


# --------------------------------------------------------------------------- c


def test_c_daemons_on_one_node_run_on_the_one_worker_that_fits(operator, node, namespace):
    job = hello(namespace, replicas=2, daemons=True)
    job["spec"]["template"]["spec"]["containers"][0]["args"] = ["hostname"]  # one rank per slot of the hostfile
    node.apply(job)
    messages: list[str] = []

    def succeeded():
        status = node.get(MPIJOBS, "hello", namespace).get("status", {})
        messages.append(status.get("message", ""))
        return status.get("phase") == "Succeeded" and status

    node.wait_for(succeeded, "MPIJob phase Succeeded", timeout=TIMEOUT, interval=1)
    pod = launcher_pod(node, namespace)
    init_log = logs(node, namespace, pod["metadata"]["name"], INIT)
    ranks = rank_output(node, namespace, pod["metadata"]["name"])
    (ran_on,) = set(ranks)
    (left_out,) = set(worker_names(2)) - {ran_on}
    assert len(ranks) == 2, "both slots of the one worker"
    assert "excluded from the hostfile" in init_log and left_out in init_log, init_log
    # while it ran, the status said a worker stays Pending because of daemons
    assert any("daemons: at most one worker per node" in m for m in messages), messages


# -------------------------------------------------------------------------- c2


def test_c2_strict_mode_fails_naming_the_worker_and_mpirun_never_starts(operator, node, namespace):
    job = hello(namespace, replicas=2, daemons=True, minReplicas=2)
    node.apply(job)
    (left_out,) = node.wait_for(
        lambda: [
            p["metadata"]["name"]
            for p in pods(node, namespace, api.ROLE_WORKER)
            if any(c.get("reason") == "Unschedulable" for c in p["status"].get("conditions", []))
        ],
        "one worker Unschedulable (one node, one worker per node)",
        timeout=TIMEOUT,
    )
    failed = run_to_the_end(node, namespace, "Failed", timeout=INIT_DEADLINE_SECONDS + TIMEOUT)
    pod = launcher_pod(node, namespace)
    assert terminated(pod, INIT, init=True)["exitCode"] == 1
    init_log = logs(node, namespace, pod["metadata"]["name"], INIT)
    assert "too few workers reachable" in init_log and "1 of 2 workers reachable, 2 needed" in init_log, init_log
    (unreachable,) = init_log.split("unreachable workers:\n")[1].splitlines()[:1]
    assert unreachable.strip().startswith(f"{left_out}.hello-worker.{namespace}.svc: no-dns"), init_log
    assert "mpirun will not start" in init_log
    # mpirun never started: containerd never made the main container of the launcher
    launcher_containers = [
        c["metadata"]["name"]
        for c in containers_in_containerd(node, namespace)
        if c["labels"]["io.kubernetes.pod.name"] == pod["metadata"]["name"]
    ]
    assert launcher_containers == [INIT], launcher_containers
    assert failed["status"]["launcher"]["state"] == "Failed"
    # the MPIJob status says why, from the init step's termination message
    assert failed["status"]["reason"] == "WorkersUnreachable", failed["status"]
    assert "mpirun never started: 1 of 2 workers reachable, 2 needed" in failed["status"]["message"]
    assert left_out in failed["status"]["message"], failed["status"]["message"]


# --------------------------------------------------------------------------- d


@pytest.fixture(scope="module")
def user_image(node):
    """examples/user-image built FROM the mpibase image just built."""
    run(
        [
            "buildah", "bud", "--pull=never", "--isolation", "chroot", "--format", "docker", "--layers",
            "--build-arg", f"MPIBASE={project_images()[0]}", "-t", USER_IMAGE, str(USER_IMAGE_DIR),
        ],
        "build of examples/user-image",
        timeout=900,
    )  # fmt: skip
    node.import_image(USER_IMAGE)
    return USER_IMAGE


def test_d_a_user_image_from_mpibase_runs_its_own_mpi_program(operator, node, namespace, user_image):
    job = yaml.safe_load((USER_IMAGE_DIR / "job.yaml").read_text())
    job["metadata"]["namespace"] = namespace
    job["spec"]["image"] = user_image
    node.apply(job)
    name = job["metadata"]["name"]
    node.wait_for(phase_is(node, namespace, "Succeeded", name), "MPIJob phase Succeeded", timeout=TIMEOUT, interval=1)
    (pod,) = pods(node, namespace, api.ROLE_LAUNCHER, job=name)
    assert terminated(pod, MAIN)["exitCode"] == 0
    lines = logs(node, namespace, pod["metadata"]["name"], MAIN).splitlines()
    workers = [naming.worker_pod_name(name, i) for i in range(2)]
    ranks = [line.split() for line in lines if line.startswith("rank ")]
    assert [r[1] for r in ranks] == ["0", "1", "2", "3"], lines
    assert sorted(r[5] for r in ranks) == sorted(workers * 2), lines
    assert "token passed 3 times; 4 ranks on 2 hosts" in lines, lines


# --------------------------------------------------------------------------- e


def worker_problems(node: Node, namespace: str) -> list[str]:
    """ "<pod>: <reason>: <message>" of every worker container that is not running."""
    found = []
    for worker in pods(node, namespace, api.ROLE_WORKER):
        for state in worker["status"].get("containerStatuses", []):
            why = state["state"].get("waiting") or state.get("lastState", {}).get("terminated") or {}
            if why.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
                found.append(f"{worker['metadata']['name']}: {why['reason']}: {why.get('message', '')}")
    return found


def test_e_an_image_without_the_worker_entrypoint_fails_visibly(operator, node, namespace):
    node.import_image(FOREIGN_IMAGE)
    node.apply(hello(namespace, replicas=2, image=FOREIGN_IMAGE))
    problems = node.wait_for(
        lambda: len(found := worker_problems(node, namespace)) == 2 and found,
        "both workers failing to start",
        timeout=TIMEOUT,
    )
    assert all("/usr/local/bin/mpifn-worker" in problem for problem in problems), problems
    # The workers can fail before the first status is written (that sync's last step).
    running = node.wait_for(
        lambda: node.get(MPIJOBS, "hello", namespace).get("status"), "the job's first status", timeout=TIMEOUT
    )
    failed = run_to_the_end(node, namespace, "Failed", timeout=INIT_DEADLINE_SECONDS + TIMEOUT)
    pod = launcher_pod(node, namespace)
    assert terminated(pod, INIT, init=True)["exitCode"] == 1
    assert "too few workers reachable" in logs(node, namespace, pod["metadata"]["name"], INIT)
    print(f"\n[e] workers: {problems}\n[e] while waiting: {running['message']}")
    print(f"[e] at the end: {failed['status']['message']}")


# --------------------------------------------------------------------------- f


def test_f_deleting_the_mpijob_removes_every_pod_from_containerd(operator, node, namespace):
    job = hello(namespace, replicas=2)
    job["spec"]["template"]["spec"]["containers"][0]["args"] = ["-n", "4", "sleep", "600"]
    node.apply(job)
    run_to_the_end(node, namespace, "Running")
    launcher = launcher_pod(node, namespace)["metadata"]["name"]
    node.wait_for(
        lambda: running_pods_in_containerd(node, namespace) >= {*worker_names(2), launcher},
        "launcher and workers running in containerd",
        timeout=TIMEOUT,
    )
    node.kubectl("delete", MPIJOBS, "hello", "-n", namespace, "--wait=true", "--timeout=170s", timeout=180)
    node.wait_for(
        lambda: not sandboxes_in_containerd(node, namespace) and not containers_in_containerd(node, namespace),
        "no pod sandbox nor container of the job left in containerd",
        timeout=TIMEOUT,
    )
    assert node.get("pods", namespace=namespace) == []
