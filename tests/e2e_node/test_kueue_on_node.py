"""Issue 18 on the real node: Kueue admits mpifn's kubeflow.org MPIJobs that run real MPI.

Kueue v0.17.0 runs as a process on the machine beside the node's API server, exactly as
in tests/e2e_k8s (kueue.py: its module's CRDs, RBAC and webhook configurations, a token
of its ServiceAccount, webhooks at a loopback URL with a certificate made here); the
MPIJobs are mpifn's kubeflow.org API (the chart's kubeflow Component, installed by the
suite), driven like every other node test. Kueue and its webhook configurations go at
the end of the module, whatever happened.

Every job is 1 launcher + 2 workers of the project's mpibase image, 100m CPU each: a
quota of 300m holds one job. The launcher runs `mpirun -n 2` over the two workers; each
rank prints its host ("rank on HOST"), then blocks reading a FIFO until the test writes to it in the
rank's worker (kubectl exec): the real-node counterpart of e2e_k8s's held launcher. So
"running" here means both ranks are up, read from the launcher's log.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mpifn import naming
from testkit.containers import project_images
from testkit.node import Node
from tests.e2e_k8s.jobs import fresh_namespace
from tests.e2e_k8s.kueue import (
    JOB_NAME,
    MPIJOBS,
    PRIORITY_LABEL,
    QUEUE_LABEL,
    USER,
    Kueue,
    active,
    admitted_workload,
    all_running,
    condition,
    events_for,
    get_job,
    is_true,
    owned,
    pods_of,
    priority_class,
    queues_for,
    resource_flavor,
    role_pods,
    submit,
    succeeded,
    workload_finished,
    workload_of,
)

pytestmark = pytest.mark.e2e_node

TIMEOUT = 180
QUEUE = "queue"
FLAVOR = "default"
CPU = "100m"  # each pod's request
ONE_JOB = "300m"  # the quota of one job: launcher + 2 workers
MAIN = "mpi"  # the container name of both roles
RELEASE = "/tmp/release"  # the FIFO each rank waits on, in its worker
RANK_SAYS = "rank on "  # then its host: the launcher's log has other lines too (OpenMPI's warnings)
RANK = f'mkfifo {RELEASE} && echo "{RANK_SAYS}$(hostname)" && read line < {RELEASE}'
SUSPENDED_BY_KUEUE = "EvictedByKueue"  # mpifn's reason after a preemption (Kubeflow's: MPIJobSuspended)


@pytest.fixture(scope="module")
def kueue(node: Node, operator) -> Iterator[Kueue]:
    """Kueue on the node with one ResourceFlavor and the priority classes low and high;
    stopped, its webhook configurations deleted first, at the end of the module."""
    node.wait_crds_established([MPIJOBS])
    with Kueue(node) as running:
        node.apply(resource_flavor(FLAVOR), priority_class("low", 100), priority_class("high", 1000))
        yield running


@pytest.fixture
def namespace(node: Node, kueue: Kueue, request) -> Iterator[str]:
    """A fresh namespace; afterwards it is deleted and waited for, then its ClusterQueue,
    while Kueue still runs (its finalizers on Workloads and queues need it)."""
    created = fresh_namespace(node, request.node.name)
    name = next(created)
    try:
        yield name
    finally:
        next(created, None)
        node.wait_for(lambda: node.get_or_none("namespace", name) is None, f"namespace {name} gone", TIMEOUT)
        node.kubectl("delete", "clusterqueue", name, "--ignore-not-found", "--wait=true", "--timeout=60s")


def node_mpijob(namespace: str, name: str, priority: str | None = None) -> dict:
    """A kubeflow.org MPIJob of real MPI on the mpibase image, labelled for the queue."""
    image = project_images()[0]

    def role(replicas: int, command: list[str]) -> dict:
        container = {"name": MAIN, "image": image, "command": command, "resources": {"requests": {"cpu": CPU}}}
        return {"replicas": replicas, "template": {"spec": {"containers": [container]}}}

    labels = {QUEUE_LABEL: QUEUE}
    if priority:
        labels[PRIORITY_LABEL] = priority
    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "slotsPerWorker": 1,
            "sshAuthMountPath": "/home/mpiuser/.ssh",
            "runPolicy": {"cleanPodPolicy": "Running"},
            "mpiReplicaSpecs": {
                "Launcher": role(1, ["mpirun", "-n", "2", "sh", "-c", RANK]),
                "Worker": role(2, ["/usr/local/bin/mpifn-worker"]),  # the image's sshd entrypoint
            },
        },
    }


def workers(name: str) -> list[str]:
    return [naming.worker_pod_name(name, index) for index in range(2)]


def rank_hosts(node: Node, namespace: str, launcher: dict) -> list[str]:
    """The host each rank said it runs on, from the launcher's log."""
    log = node.kubectl("logs", "-n", namespace, launcher["metadata"]["name"], "-c", MAIN)
    return [line.removeprefix(RANK_SAYS) for line in log.splitlines() if line.startswith(RANK_SAYS)]


def ranks_started(node: Node, namespace: str, name: str) -> list[str] | None:
    """The hosts the job's ranks printed (the launcher's log), once its 3 pods run and both
    ranks printed; else None."""
    found = all_running(node, namespace, name)
    if not found:
        return None
    (launcher,) = role_pods(found, "launcher")
    hosts = rank_hosts(node, namespace, launcher)
    return hosts if len(hosts) >= 2 else None


def wait_ranks(node: Node, namespace: str, name: str) -> list[dict]:
    """Waits until both ranks of the job run, one in each worker; the job's pods."""
    hosts = node.wait_for(lambda: ranks_started(node, namespace, name), f"{name}'s 2 ranks running", TIMEOUT, 1)
    assert sorted(hosts) == workers(name), f"{name}: the ranks ran on {hosts}, not one in each worker"
    return pods_of(node, namespace, name)


def release(node: Node, namespace: str, name: str) -> None:
    """Lets each rank end: a line into the FIFO it reads, in its worker."""
    for worker in workers(name):
        node.kubectl("exec", "-n", namespace, worker, "-c", MAIN, "--", "sh", "-c", f"echo go > {RELEASE}")


def finish(node: Node, namespace: str, name: str) -> None:
    """Releases the job's ranks; it Succeeds, its Workload Finishes, the launcher's log has
    the host of each rank, one per worker."""
    (launcher,) = role_pods(pods_of(node, namespace, name), "launcher")
    release(node, namespace, name)
    node.wait_for(lambda: succeeded(node, namespace, name), f"{name} Succeeded", TIMEOUT, 1)
    node.wait_for(lambda: workload_finished(node, namespace, name), f"the Workload of {name} Finished", TIMEOUT)
    assert sorted(rank_hosts(node, namespace, launcher)) == workers(name)


# --------------------------------------------------------------------------- a


def test_a_quota_for_one_job_runs_three_in_turn(kueue, operator, node, namespace):
    """Quota for one job, three submitted at once: one runs its ranks, the others have no
    pods (suspended, their Workloads without quota) until it Succeeds; all three in turn."""
    queues_for(node, namespace, QUEUE, {FLAVOR: ONE_JOB})
    names = [f"job-{index}" for index in range(3)]
    for name in names:
        created = submit(node, node_mpijob(namespace, name))
        assert created["spec"]["runPolicy"].get("suspend") is True, f"{name}: Kueue's webhook did not suspend it"

    order: list[str] = []
    for _ in names:
        waiting = [name for name in names if name not in order]
        started = node.wait_for(
            lambda waiting=waiting: [name for name in waiting if ranks_started(node, namespace, name)],
            f"the ranks of one of {waiting} running",
            TIMEOUT,
            1,
        )
        assert len(started) == 1, f"{started} run at once on a quota for one job"
        (running,) = started
        wait_ranks(node, namespace, running)
        assert admitted_workload(node, namespace, get_job(node, namespace, running)), f"{running} runs unadmitted"
        for other in waiting:
            if other == running:
                continue
            assert pods_of(node, namespace, other) == [], f"{other} has pods while {running} holds the quota"
            job = get_job(node, namespace, other)
            assert job["spec"]["runPolicy"].get("suspend") is True, other
            workload = workload_of(node, namespace, job)
            assert workload is not None and not is_true(workload, "QuotaReserved"), other
        finish(node, namespace, running)
        order.append(running)
    assert sorted(order) == names
    assert operator.errors(namespace) == []


# --------------------------------------------------------------------------- c


def test_c_preempted_job_stops_then_runs_again(kueue, operator, node, namespace):
    """A higher-priority job evicts a running lower one: the lower job's pods all go (gone
    from the API: the kubelet stopped their containers), it is Suspended by Kueue,
    replicaStatuses active 0; the higher one runs and Succeeds; the lower one is admitted
    again, runs its ranks afresh in new pods with the same SSH Secret and ConfigMap, and
    Succeeds."""
    queues_for(node, namespace, QUEUE, {FLAVOR: ONE_JOB}, {"withinClusterQueue": "LowerPriority"})
    low = submit(node, node_mpijob(namespace, "low", priority="low"))
    uid = low["metadata"]["uid"]
    first = {pod["metadata"]["uid"] for pod in wait_ranks(node, namespace, "low")}
    secrets, configmaps = owned(node, namespace, uid, "secrets"), owned(node, namespace, uid, "configmaps")
    assert secrets and configmaps, f"low: no SSH Secret ({secrets}) or no ConfigMap ({configmaps})"

    submit(node, node_mpijob(namespace, "high", priority="high"))

    def low_stopped() -> dict | None:
        job = get_job(node, namespace, "low")
        done = (
            job["spec"]["runPolicy"].get("suspend") is True
            and is_true(job, "Suspended")
            and node.get("pods", namespace=namespace, selector=f"{JOB_NAME}=low") == []
            and set(active(job).values()) <= {0}
        )
        return job if done else None

    job = node.wait_for(low_stopped, "low suspended, its pods gone, replicaStatuses active 0", TIMEOUT, 1)
    assert not is_true(job, "Running"), job["status"]
    assert condition(job, "Suspended")["reason"] == SUSPENDED_BY_KUEUE, job["status"]
    workload = workload_of(node, namespace, job)
    assert workload is not None and is_true(workload, "Evicted") and is_true(workload, "Preempted"), workload
    assert any("Preempted" in message for message in events_for(node, namespace, "low", "Stopped")), (
        "no Stopped event from Kueue naming the preemption on the MPIJob"
    )

    wait_ranks(node, namespace, "high")
    finish(node, namespace, "high")

    again = {pod["metadata"]["uid"] for pod in wait_ranks(node, namespace, "low")}
    assert not again & first, "low resumed pods of its first run"
    assert admitted_workload(node, namespace, get_job(node, namespace, "low")), "low runs unadmitted"
    assert owned(node, namespace, uid, "secrets") == secrets, "the SSH Secret changed"
    assert owned(node, namespace, uid, "configmaps") == configmaps, "the ConfigMap changed"
    finish(node, namespace, "low")
    # the launcher pod the Job controller deleted on suspend was no failure (backoffLimit is 0)
    assert get_job(node, namespace, "low")["status"]["replicaStatuses"]["Launcher"].get("failed", 0) == 0
    assert operator.errors(namespace) == []


# ---------------------------------------------------------------- Kueue's own RBAC (last: reads what a, c logged)


def test_kueue_runs_as_its_service_account_and_is_refused_nothing(kueue):
    """Kueue authenticates with a token of its module's ServiceAccount, and its module's
    RBAC let it do what a and c asked: its log has no request refused for want of a permission."""
    assert kueue.user == USER
    assert kueue.whoami() == USER
    assert kueue.denials() == []
