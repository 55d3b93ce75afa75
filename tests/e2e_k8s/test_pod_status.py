"""Issue 12 on the real control plane: the status explains a stuck or failed job from its
own pods. Sync asks for an MPIJobExplanation (the suite's functions read pods at once:
MPIFN_EXPLAIN_AFTER_SECONDS=0); the explain controller's customize hook asks for that job's
pods, the driver sends them under `related`, and its sync keeps the telling ones in the
explanation's status, which the job's sync reads.

The real kube-scheduler leaves pods Unschedulable; kwok stages of the tests' own (see
testkit/kwok-stages/) put pods into ImagePullBackOff, CrashLoopBackOff with a termination reason,
or fail the launcher's init step or its mpirun with a termination message, as the kubelet
writes them. Every cause is read back with kubectl: `kubectl get mj` REASON and status."""

from __future__ import annotations

import copy
import uuid

import pytest

from mpifn import api
from testkit.cluster import Cluster
from testkit.kwok import ANN_EXIT_CODE, ANN_FAIL, ANN_HOLD, ANN_REASON

from .jobs import MPIJOBS, TIMEOUT, hello, mpijob, owned_children, pods, wait_settled

pytestmark = pytest.mark.e2e_k8s

ANN_STATE = "e2e.mpifn.test/state"
ANN_MESSAGE = "e2e.mpifn.test/message"
MISSING_WORKER = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: "
    'unable to start container process: exec: "/usr/local/bin/mpifn-worker": stat /usr/local/bin/mpifn-worker: '
    "no such file or directory: unknown"
)
VERDICT = (
    "mpifn-init: too-few-workers: 0 of 2 workers reachable, 2 needed (after 300s)\n"
    "unreachable {job}-worker-0.{job}-worker.{ns}.svc: refused (connection refused on port 2222)\n"
    "unreachable {job}-worker-1.{job}-worker.{ns}.svc: timeout (no SSH banner within 5s)\n"
)


def job(
    namespace: str,
    name: str,
    worker: dict | None = None,
    launcher: dict | None = None,
    image: str | None = None,
    memory: str | None = None,
) -> dict:
    """hello.yaml as `name` with 2 workers: `worker`/`launcher` annotations on each role's pods,
    the launcher held running unless its annotations say otherwise."""
    spec = hello(namespace, replicas=2)
    spec["metadata"]["name"] = name
    container = spec["spec"]["template"]["spec"]["containers"][0]
    if image:
        container["image"] = image
    if memory:
        container["resources"] = {"limits": {"memory": memory}}
    for role, marks in (("worker", worker or {}), ("launcher", launcher or {ANN_HOLD: "true"})):
        template = copy.deepcopy(spec["spec"]["template"])
        template.setdefault("metadata", {})["annotations"] = marks
        spec["spec"][role] = {"template": template}
    return spec


def cases(namespace: str) -> dict[str, dict]:
    unschedulable = job(namespace, "unschedulable")
    worker = unschedulable["spec"]["worker"]["template"]["spec"]["containers"][0]
    worker["resources"] = {"requests": {"cpu": "64"}}  # the fake nodes have 32
    return {
        "unschedulable": unschedulable,
        "pull": job(namespace, "pull", {ANN_STATE: "ImagePullBackOff"}, image="mpifn/nope:9"),
        "crash": job(namespace, "crash", {ANN_STATE: "CrashLoopBackOff", ANN_EXIT_CODE: "3"}),
        "noworker": job(
            namespace,
            "noworker",
            {
                ANN_STATE: "CrashLoopBackOff",
                ANN_EXIT_CODE: "128",
                ANN_REASON: "StartError",
                ANN_MESSAGE: MISSING_WORKER,
            },
            image="debian:bookworm-slim",
        ),
        "oom": job(
            namespace,
            "oom",
            {ANN_STATE: "CrashLoopBackOff", ANN_EXIT_CODE: "137", ANN_REASON: "OOMKilled"},
            memory="64Mi",
        ),
        "nossh": job(
            namespace,
            "nossh",
            launcher={ANN_STATE: "InitFailed", ANN_MESSAGE: VERDICT.format(job="nossh", ns=namespace)},
        ),
        "mpirun": job(
            namespace,
            "mpirun",
            launcher={
                ANN_FAIL: "true",
                ANN_EXIT_CODE: "7",
                ANN_MESSAGE: "rank 0 up\nMPI_ABORT was invoked on rank 1\n",
            },
        ),
        "edit": job(namespace, "edit"),
    }


@pytest.fixture(scope="module")
def submitted(operator, k8s_cluster):
    """Every case submitted at once in one namespace (they proceed in parallel)."""
    namespace = f"explain-{uuid.uuid4().hex[:6]}"
    k8s_cluster.create_namespace(namespace)
    jobs = cases(namespace)
    k8s_cluster.apply(*jobs.values())
    yield namespace, jobs
    k8s_cluster.kubectl_run("delete", "namespace", namespace, "--wait=false", check=False)


def reason_is(cluster: Cluster, namespace: str, name: str, reason: str) -> dict:
    return cluster.wait_for(
        lambda: (j := mpijob(cluster, namespace, name)).get("status", {}).get("reason") == reason and j,
        f"MPIJob {name}: status.reason {reason}",
        timeout=TIMEOUT,
    )


def reason_column(cluster: Cluster, namespace: str, name: str) -> str:
    header, row = cluster.kubectl("get", MPIJOBS, name, "-n", namespace).strip().splitlines()
    return dict(zip(header.split(), row.split(), strict=False))["REASON"]


@pytest.mark.parametrize(
    ("case", "phase", "reason", "said"),
    [
        (
            "unschedulable",
            "Pending",
            "Unschedulable",
            "unschedulable-worker-0: cannot be scheduled: 0/2 nodes are available: 2 Insufficient cpu.",
        ),
        (
            "pull",
            "Pending",
            "ImagePullBackOff",
            'pull-worker-0: cannot pull image "mpifn/nope:9" for container mpi (ImagePullBackOff: Back-off pulling '
            'image "mpifn/nope:9")',
        ),
        (
            "crash",
            "Pending",
            "CrashLoopBackOff",
            "crash-worker-0: container mpi keeps crashing (CrashLoopBackOff), last exit code 3 (Error)",
        ),
        (
            "noworker",
            "Pending",
            "WorkerCommandMissing",
            'noworker-worker-0: image "debian:bookworm-slim" has no /usr/local/bin/mpifn-worker (container mpi cannot '
            "start); fix: the worker image must derive from mpibase, or set its own worker command: "
            "an executable /usr/local/bin/mpifn-worker",
        ),
        ("oom", "Pending", "OOMKilled", "oom-worker-0: container mpi was OOMKilled (memory limit 64Mi)"),
        (
            "nossh",
            "Failed",
            "WorkersUnreachable",
            "mpirun never started: 0 of 2 workers reachable, 2 needed (after 300s); no SSH from nossh-worker-0 refused "
            "(connection refused on port 2222), nossh-worker-1 timeout (no SSH banner within 5s)",
        ),
        (
            "mpirun",
            "Failed",
            "MPIRunFailed",
            "mpirun exited with code 7 (Error); last lines: rank 0 up | MPI_ABORT was invoked on rank 1",
        ),
    ],
)
def test_each_cause_shows_in_reason_and_status(operator, k8s_cluster, submitted, case, phase, reason, said):
    namespace, _ = submitted
    status = reason_is(k8s_cluster, namespace, case, reason)["status"]
    assert status["phase"] == phase
    assert said in status["message"], status["message"]
    assert reason_column(k8s_cluster, namespace, case) == reason
    assert any(line.startswith(f"{case}-") for line in status["pods"]["details"]), status["pods"]
    assert status["pods"]["problems"], status["pods"]
    described = k8s_cluster.kubectl("describe", MPIJOBS, case, "-n", namespace)
    assert "Details:" in described and f"{case}-" in described  # the per-pod lines


def test_the_status_stays_put_while_the_pods_do(operator, k8s_cluster, submitted):
    namespace, _ = submitted
    reason_is(k8s_cluster, namespace, "pull", "ImagePullBackOff")
    wait_settled(k8s_cluster, operator, namespace, "pull")
    before = mpijob(k8s_cluster, namespace, "pull")
    operator.wait_syncs(f"{namespace}/pull", 3)  # resyncs with the same pods
    after = mpijob(k8s_cluster, namespace, "pull")
    assert after["status"] == before["status"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_an_invalid_edit_of_a_running_job_keeps_it_running(operator, k8s_cluster, submitted):
    namespace, _ = submitted
    cluster = k8s_cluster
    running = reason_is(cluster, namespace, "edit", "LauncherRunning")
    children = owned_children(cluster, namespace, running["metadata"]["uid"])
    cluster.kubectl("patch", MPIJOBS, "edit", "-n", namespace, "--type=merge", "-p", '{"spec": {"minReplicas": 3}}')
    status = reason_is(cluster, namespace, "edit", "SpecInvalid")["status"]
    assert status["phase"] == "Running"
    assert "spec.minReplicas: must be at most spec.replicas (2), got 3" in status["message"]
    invalid = next(c for c in status["conditions"] if c["type"] == "SpecInvalid")
    assert invalid["status"] == "True"
    assert reason_column(cluster, namespace, "edit") == "SpecInvalid"
    operator.wait_syncs(f"{namespace}/edit", 2)
    kept = owned_children(cluster, namespace, running["metadata"]["uid"])
    assert {key: c["metadata"]["uid"] for key, c in kept.items()} == {
        key: c["metadata"]["uid"] for key, c in children.items()
    }
    assert [p["status"]["phase"] for p in pods(cluster, namespace, job="edit")] == ["Running"] * 3


def test_the_explain_controller_reads_the_stuck_jobs_own_pods(operator, k8s_cluster, submitted):
    namespace, _ = submitted
    status = reason_is(k8s_cluster, namespace, "pull", "ImagePullBackOff")["status"]
    assert ("customize", f"{namespace}/pull-pods") in operator.calls
    assert status["pods"]["read"] == 3  # launcher and two workers, nothing of the other jobs
    assert {p["metadata"]["labels"][api.LABEL_JOB] for p in pods(k8s_cluster, namespace, job="pull")} == {"pull"}
    explanation = k8s_cluster.kubectl("get", api.EXPLANATION_PLURAL, "pull-pods", "-n", namespace, "-o", "json")
    assert explanation["spec"] == {"job": "pull", "workerPods": True}
    kept = sorted(p["metadata"]["name"] for p in explanation["status"]["pods"])
    assert kept[1:] == ["pull-worker-0", "pull-worker-1"] and kept[0].startswith("pull-launcher-")


def test_a_healthy_job_keeps_no_explanation(operator, k8s_cluster, namespace):
    k8s_cluster.apply(job(namespace, "fine"))
    reason_is(k8s_cluster, namespace, "fine", "LauncherRunning")

    # Asked for while it was Pending (no grace in this suite), the explanation goes once it
    # runs, and the sync that follows its deletion leaves no pod reading in the status.
    def settled() -> dict | None:
        found = k8s_cluster.kubectl("get", api.EXPLANATION_PLURAL, "-n", namespace, "-o", "json")["items"]
        status = mpijob(k8s_cluster, namespace, "fine").get("status", {})
        return None if found or "pods" in status else status

    status = k8s_cluster.wait_for(settled, "the healthy job's explanation and pod reading to go", timeout=TIMEOUT)
    assert status["reason"] == "LauncherRunning"
