"""Kueue decides when kubeflow.org MPIJobs run (issue 18), for both operators of that API.

Each operator gets a fresh control plane (one module-scoped stack per parameter): mpifn's
kubeflow Component driven by the suite's driver, then Kubeflow's MPI Operator v0.8.0. On
it: three kwok node pools (``default``; ``a`` and ``b`` tainted, so a pod runs there only
with its flavor's toleration), one ResourceFlavor per pool, and the real Kueue with its
webhooks active and its module's RBAC, running as its ServiceAccount (kueue.py). Each
test makes its own ClusterQueue and LocalQueue; the last one checks Kueue's identity
and that the API server refused it nothing in the scenarios.

Every job is 1 launcher + 2 workers, 1 CPU each: a quota of 3 CPUs holds one job. The
launcher pod is held running (annotation e2e.mpifn.test/hold) until the test lets it
complete. Where the two operators are meant to differ, EXPECTED_DIFFERENCES says so and
tests/e2e_k8s/README.md says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from testkit.cluster import Cluster
from testkit.kwok import ANN_HOLD

from .conftest import RESYNC_SECONDS
from .jobs import fresh_namespace, hello, mpijob, phase_is
from .kueue import (
    JOB_ROLE,
    OPERATOR_NAME,
    PRIORITY_LABEL,
    QUEUE_LABEL,
    ROLES,
    USER,
    WEBHOOK_KINDS,
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
from .operators import KubeflowOperator, MpifnOperator, Operator

POOL_LABEL = "e2e.mpifn.test/pool"
POOLS = ("default", "a", "b")
TAINTED = ("a", "b")
NODES_PER_POOL = 1
QUEUE = "queue"
TIMEOUT = 90
REPLICA_INDEX = "training.kubeflow.org/replica-index"  # Kubeflow's worker index label


@dataclass(frozen=True)
class Difference:
    """What each operator does where the two differ under Kueue (tests/e2e_k8s/README.md says why)."""

    what: str
    kubeflow: object
    mpifn: object


EXPECTED_DIFFERENCES = {
    "worker index label": Difference(
        "the label of a worker pod that carries its index", REPLICA_INDEX, "apps.kubernetes.io/pod-index"
    ),
    "preempted reason": Difference(
        "the reason of the Suspended condition of a job Kueue preempted", "MPIJobSuspended", "EvictedByKueue"
    ),
    "managed status": Difference(
        "the status of a job whose runPolicy.managedBy names another controller", None, {"observedGeneration": 1}
    ),
    "cause while stuck": Difference(
        "status.reason of an admitted job whose workers cannot pull their image", None, "ImagePullBackOff"
    ),
    "managed finalizers": Difference(
        "the finalizers of such a job", None, ["metacontroller.io/compositecontroller-mpifn-kubeflow-mpijob"]
    ),
}


def expected(stack: Stack, difference: str) -> object:
    return getattr(EXPECTED_DIFFERENCES[difference], stack.operator.name)


@dataclass
class Stack:
    cluster: Cluster
    operator: Operator
    kueue: Kueue
    pools: dict[str, list[str]]


def toleration(pool: str) -> dict:
    return {"key": POOL_LABEL, "operator": "Equal", "value": pool, "effect": "NoSchedule"}


def add_pools(cluster: Cluster) -> dict[str, list[str]]:
    pools = {}
    for pool in POOLS:
        names = [
            cluster.add_node(f"{pool}-{index}", wait=False, labels={POOL_LABEL: pool})
            for index in range(NODES_PER_POOL)
        ]
        for name in names:
            cluster.wait_node_ready(name)
            if pool in TAINTED:
                cluster.kubectl("taint", "nodes", name, f"{POOL_LABEL}={pool}:NoSchedule")
        pools[pool] = names
    return pools


@pytest.fixture(scope="module", params=["mpifn", "kubeflow"])
def stack(request) -> Iterator[Stack]:
    """A fresh control plane with one operator, the node pools, their flavors and Kueue."""
    cluster = Cluster(nodes=0)
    operator: Operator | None = None
    stack: Stack | None = None
    try:
        cluster.start()
        pools = add_pools(cluster)
        if request.param == "mpifn":
            operator = MpifnOperator(cluster, request.getfixturevalue("hook_proxy"), RESYNC_SECONDS)
        else:
            operator = KubeflowOperator(cluster)
        operator.start()
        stack = Stack(cluster, operator, Kueue(cluster), pools)  # before start: a partial start is stopped too
        stack.kueue.start()
        flavors = [
            resource_flavor(pool, {POOL_LABEL: pool}, [toleration(pool)] if pool in TAINTED else None) for pool in POOLS
        ]
        cluster.apply(*flavors, priority_class("low", 100), priority_class("high", 1000))
        yield stack
    finally:
        if stack is not None:
            stack.kueue.stop()  # the Kueue of the moment (scenario d swaps it): its webhooks first, then the process
        if operator is not None:
            operator.stop()
        cluster.stop()


@pytest.fixture
def namespace(stack, request) -> Iterator[str]:
    yield from fresh_namespace(stack.cluster, request.node.name)


def queue_for(stack: Stack, namespace: str, cpus: dict[str, int | str], preemption: dict | None = None) -> None:
    queues_for(stack.cluster, namespace, QUEUE, cpus, preemption)


# ---------------------------------------------------------------- jobs


def kubeflow_mpijob(
    namespace: str,
    name: str,
    queue: str | None = QUEUE,
    priority: str | None = None,
    managed_by: str | None = None,
    worker_annotations: dict[str, str] | None = None,
) -> dict:
    """1 launcher (held running) + 2 workers, 1 CPU each; labelled for the queue."""

    def role(replicas: int, command: list[str], annotations: dict[str, str]) -> dict:
        container = {
            "name": "mpi",
            "image": "mpioperator/mpi-pi:openmpi",
            "command": command,
            "resources": {"requests": {"cpu": "1"}},
        }
        return {
            "replicas": replicas,
            "template": {"metadata": {"annotations": annotations}, "spec": {"containers": [container]}},
        }

    labels = {QUEUE_LABEL: queue} if queue else {}
    if priority:
        labels[PRIORITY_LABEL] = priority
    run_policy: dict[str, object] = {"cleanPodPolicy": "Running"}
    if managed_by:
        run_policy["managedBy"] = managed_by
    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "slotsPerWorker": 1,
            "runPolicy": run_policy,
            "mpiReplicaSpecs": {
                "Launcher": role(1, ["mpirun", "hostname"], {ANN_HOLD: "true"}),
                "Worker": role(2, ["/usr/sbin/sshd", "-De"], worker_annotations or {}),
            },
        },
    }


def release_launcher(cluster: Cluster, namespace: str, name: str) -> None:
    """Let the running launcher pod complete (kwok's pod-job-complete stage)."""
    launcher = role_pods(pods_of(cluster, namespace, name), "launcher")
    assert len(launcher) == 1, f"{name}: expected one launcher pod, found {len(launcher)}"
    cluster.kubectl("annotate", "pod", "-n", namespace, launcher[0]["metadata"]["name"], f"{ANN_HOLD}-")


# ---------------------------------------------------------------- a


def test_a_quota_for_one_job_runs_three_in_turn(stack, namespace):
    """Quota for one job, three submitted at once: one runs, the others have no pods (and stay
    suspended, their Workloads not admitted) until it finishes; all three Succeed in turn."""
    cluster = stack.cluster
    queue_for(stack, namespace, {"default": 3})
    names = [f"job-{index}" for index in range(3)]
    jobs = {name: submit(cluster, kubeflow_mpijob(namespace, name)) for name in names}
    for name, job in jobs.items():
        assert job["spec"]["runPolicy"].get("suspend") is True, f"{name}: Kueue's webhook did not suspend it"

    order = []
    for _ in names:
        waiting = [name for name in names if name not in order]

        def one_running(waiting=waiting):
            running = [name for name in waiting if all_running(cluster, namespace, name)]
            return running if len(running) == 1 else None

        (running,) = cluster.wait_for(one_running, f"one of {waiting} running", timeout=TIMEOUT)
        job = get_job(cluster, namespace, running)
        assert admitted_workload(cluster, namespace, job), f"{running} runs without an admitted Workload"
        for pod in pods_of(cluster, namespace, running):
            labels = pod["metadata"]["labels"]
            assert labels.get(OPERATOR_NAME) == "mpi-operator", pod["metadata"]["name"]
            assert labels.get(JOB_ROLE) in ROLES, pod["metadata"]["name"]
            if labels[JOB_ROLE] == "worker":
                assert labels.get(expected(stack, "worker index label")) in ("0", "1"), pod["metadata"]["name"]
        for other in waiting:
            if other == running:
                continue
            assert pods_of(cluster, namespace, other) == [], f"{other} has pods while {running} holds the quota"
            other_job = get_job(cluster, namespace, other)
            assert other_job["spec"]["runPolicy"].get("suspend") is True, other
            workload = workload_of(cluster, namespace, other_job)
            assert workload is not None and not is_true(workload, "QuotaReserved"), other
        release_launcher(cluster, namespace, running)
        cluster.wait_for(lambda r=running: succeeded(cluster, namespace, r), f"{running} Succeeded", timeout=TIMEOUT)
        cluster.wait_for(
            lambda r=running: workload_finished(cluster, namespace, r), f"the Workload of {running} Finished", TIMEOUT
        )
        order.append(running)
    assert sorted(order) == names


# ---------------------------------------------------------------- b


def test_b_each_job_runs_on_its_flavors_pool(stack, namespace):
    """Two flavors over two tainted pools: the first job fills pool a's quota, the second gets
    pool b; every pod carries its flavor's node selector and toleration and runs there."""
    cluster = stack.cluster
    queue_for(stack, namespace, {"a": 3, "b": 3})
    first = submit(cluster, kubeflow_mpijob(namespace, "first"))
    cluster.wait_for(lambda: all_running(cluster, namespace, "first"), "first running", timeout=TIMEOUT)
    second = submit(cluster, kubeflow_mpijob(namespace, "second"))
    cluster.wait_for(lambda: all_running(cluster, namespace, "second"), "second running", timeout=TIMEOUT)

    for job, pool in ((first, "a"), (second, "b")):
        name = job["metadata"]["name"]
        workload = admitted_workload(cluster, namespace, get_job(cluster, namespace, name))
        assert workload is not None, name
        flavors = {ps["name"]: ps["flavors"]["cpu"] for ps in workload["status"]["admission"]["podSetAssignments"]}
        assert flavors == {"launcher": pool, "worker": pool}, f"{name}: {flavors}"
        found = pods_of(cluster, namespace, name)
        assert sorted(p["metadata"]["labels"][JOB_ROLE] for p in found) == ["launcher", "worker", "worker"]
        for pod in found:
            what = f"{name}/{pod['metadata']['name']}"
            assert pod["spec"].get("nodeSelector", {}).get(POOL_LABEL) == pool, what
            assert toleration(pool) in pod["spec"].get("tolerations", []), what
            assert pod["spec"]["nodeName"] in stack.pools[pool], what
    for job in (first, second):
        release_launcher(cluster, namespace, job["metadata"]["name"])
    for name in ("first", "second"):
        cluster.wait_for(lambda n=name: succeeded(cluster, namespace, n), f"{name} Succeeded", timeout=TIMEOUT)


# ---------------------------------------------------------------- c


def test_c_preempted_job_is_suspended_then_runs_again(stack, namespace):
    """A higher-priority job evicts a running lower one: its pods all go, it is Suspended
    (Kueue's Stopped event says it was preempted), replicaStatuses active 0; it is admitted
    again once the other finishes, and Succeeds. Its SSH Secret and ConfigMap are kept."""
    cluster = stack.cluster
    queue_for(stack, namespace, {"default": 3}, {"withinClusterQueue": "LowerPriority"})
    low = submit(cluster, kubeflow_mpijob(namespace, "low", priority="low"))
    uid = low["metadata"]["uid"]
    cluster.wait_for(lambda: all_running(cluster, namespace, "low"), "low running", timeout=TIMEOUT)
    secrets, configmaps = owned(cluster, namespace, uid, "secrets"), owned(cluster, namespace, uid, "configmaps")
    assert secrets and configmaps, f"low: no SSH Secret ({secrets}) or no ConfigMap ({configmaps})"

    submit(cluster, kubeflow_mpijob(namespace, "high", priority="high"))

    def low_stopped():
        job = get_job(cluster, namespace, "low")
        done = (
            job["spec"]["runPolicy"].get("suspend") is True
            and is_true(job, "Suspended")
            and not pods_of(cluster, namespace, "low")
            and set(active(job).values()) <= {0}
        )
        return job if done else None

    job = cluster.wait_for(low_stopped, "low suspended, no pods, replicaStatuses active 0", timeout=TIMEOUT)
    assert not is_true(job, "Running"), job["status"]
    assert condition(job, "Suspended")["reason"] == expected(stack, "preempted reason"), job["status"]
    workload = workload_of(cluster, namespace, job)
    assert workload is not None and is_true(workload, "Evicted"), workload
    assert is_true(workload, "Preempted"), workload["status"]
    assert any("Preempted" in message for message in events_for(cluster, namespace, "low", "Stopped")), (
        "no Stopped event from Kueue naming the preemption on the MPIJob"
    )
    cluster.wait_for(lambda: all_running(cluster, namespace, "high"), "high running", timeout=TIMEOUT)
    assert owned(cluster, namespace, uid, "secrets") == secrets, "the SSH Secret changed while suspended"
    assert owned(cluster, namespace, uid, "configmaps") == configmaps, "the ConfigMap changed while suspended"

    release_launcher(cluster, namespace, "high")
    cluster.wait_for(lambda: succeeded(cluster, namespace, "high"), "high Succeeded", timeout=TIMEOUT)
    cluster.wait_for(lambda: all_running(cluster, namespace, "low"), "low running again", timeout=TIMEOUT)
    assert admitted_workload(cluster, namespace, get_job(cluster, namespace, "low")), "low runs unadmitted"
    assert owned(cluster, namespace, uid, "secrets") == secrets, "the SSH Secret changed on resume"
    release_launcher(cluster, namespace, "low")
    cluster.wait_for(lambda: succeeded(cluster, namespace, "low"), "low Succeeded", timeout=TIMEOUT)


# ---------------------------------------------------------------- e


def test_e_job_managed_by_another_controller_is_left_alone(stack, namespace):
    """runPolicy.managedBy kueue.x-k8s.io/multikueue: no child, no pod, no status from the
    operator, while a job submitted after it in the same namespace runs."""
    cluster = stack.cluster
    managed = submit(
        cluster, kubeflow_mpijob(namespace, "elsewhere", queue=None, managed_by="kueue.x-k8s.io/multikueue")
    )
    other = kubeflow_mpijob(namespace, "here", queue=None)
    submit(cluster, other)
    cluster.wait_for(lambda: all_running(cluster, namespace, "here"), "here running", timeout=TIMEOUT)
    if isinstance(stack.operator, MpifnOperator):  # counted: the driver synced it, more than once
        proxy = stack.operator.proxy
        cluster.wait_for(
            lambda: len(proxy.calls_for(f"{namespace}/elsewhere", "sync", ok=True)) >= 2,
            "two answered syncs of elsewhere",
            timeout=TIMEOUT,
        )
    job = get_job(cluster, namespace, "elsewhere")
    assert job.get("status") == expected(stack, "managed status")
    assert job["metadata"].get("finalizers") == expected(stack, "managed finalizers")
    uid = managed["metadata"]["uid"]
    for resource in ("secrets", "configmaps", "services", "jobs.batch", "statefulsets.apps", "pods"):
        assert owned(cluster, namespace, uid, resource) == {}, f"the operator made {resource} for elsewhere"
    assert pods_of(cluster, namespace, "elsewhere") == []
    release_launcher(cluster, namespace, "here")
    cluster.wait_for(lambda: succeeded(cluster, namespace, "here"), "here Succeeded", timeout=TIMEOUT)


# ---------------------------------------------------------------- f


@pytest.mark.parametrize("stack", ["mpifn"], indirect=True)
def test_f_mpifn_dev_job_with_a_queue_label_is_not_gated(stack, namespace):
    """Kueue knows no mpifn.dev kind (an integration is Go code inside Kueue, or an external
    controller that makes the Workloads): a queue label on an mpifn.dev MPIJob gates nothing.
    The queue has no quota at all, yet the job runs at once, unsuspended, with no Workload."""
    cluster = stack.cluster
    queue_for(stack, namespace, {"default": 0})
    job = hello(namespace, replicas=2, launcher_annotations={ANN_HOLD: "true"})
    job["metadata"]["labels"] = {QUEUE_LABEL: QUEUE}
    created = submit(cluster, job)
    assert not (created["spec"].get("runPolicy") or {}).get("suspend"), "something suspended an mpifn.dev job"
    cluster.wait_for(
        lambda: (j := phase_is(cluster, namespace, "Running")()) and j["status"]["workers"]["ready"] == 2,
        "the mpifn.dev job Running with 2 ready workers",
        timeout=TIMEOUT,
    )
    assert cluster.get("workloads.kueue.x-k8s.io", namespace=namespace) == []
    assert mpijob(cluster, namespace)["metadata"]["labels"] == {QUEUE_LABEL: QUEUE}


# ---------------------------------------------------------------- d

PODS_READY_TIMEOUT = "20s"  # long enough for the status to tell the cause first (a resync is 2 s)


@pytest.fixture
def kueue_waiting_for_pods(stack):
    """The stack's Kueue swapped for one with waitForPodsReady, and back afterwards."""
    stack.kueue.stop()
    left = [doc["metadata"]["name"] for kind in WEBHOOK_KINDS for doc in stack.cluster.get(kind.lower() + "s")]
    assert [name for name in left if name.startswith("kueue-")] == [], "Kueue stopped, its webhooks left behind"
    waiting = Kueue(stack.cluster, {"timeout": PODS_READY_TIMEOUT, "requeuingStrategy": {"backoffBaseSeconds": 1}})
    try:
        yield waiting.start()
    finally:
        waiting.stop()
        stack.kueue = Kueue(stack.cluster)
        stack.kueue.start()


def test_d_job_whose_workers_cannot_start_is_evicted_and_requeued(stack, namespace, kueue_waiting_for_pods):
    """waitForPodsReady: an admitted job whose workers cannot pull their image is evicted
    after Kueue's timeout (Workload Evicted, reason PodsReadyTimeout), suspended with no
    pods, and requeued (admitted again)."""
    cluster = stack.cluster
    queue_for(stack, namespace, {"default": 3})
    stuck = {"e2e.mpifn.test/state": "ImagePullBackOff"}
    job = submit(cluster, kubeflow_mpijob(namespace, "stuck", worker_annotations=stuck))
    cluster.wait_for(lambda: admitted_workload(cluster, namespace, job), "stuck admitted", timeout=TIMEOUT)
    cause = expected(stack, "cause while stuck")
    if cause is not None:
        cluster.wait_for(
            lambda: (get_job(cluster, namespace, "stuck").get("status") or {}).get("reason") == cause,
            f"the status to name the cause, {cause}",
            timeout=TIMEOUT,
        )
    else:
        assert "reason" not in (get_job(cluster, namespace, "stuck").get("status") or {})

    def evicted():
        workload = workload_of(cluster, namespace, job)
        found = condition(workload or {}, "Evicted")
        return workload if found and found["status"] == "True" and found["reason"] == "PodsReadyTimeout" else None

    cluster.wait_for(evicted, "the Workload evicted for PodsReadyTimeout", timeout=TIMEOUT)

    def stopped():
        current = get_job(cluster, namespace, "stuck")
        done = current["spec"]["runPolicy"].get("suspend") is True and not pods_of(cluster, namespace, "stuck")
        return current if done and set(active(current).values()) <= {0} else None

    suspended = cluster.wait_for(stopped, "stuck suspended with no pods", timeout=TIMEOUT)
    assert is_true(suspended, "Suspended"), suspended["status"]
    assert not is_true(suspended, "Running"), suspended["status"]
    cluster.wait_for(
        lambda: (
            ((workload_of(cluster, namespace, job) or {}).get("status", {}).get("requeueState") or {}).get("count")
            and admitted_workload(cluster, namespace, job)
        ),
        "stuck requeued and admitted again",
        timeout=TIMEOUT,
    )


# ---------------------------------------------------------------- Kueue's own RBAC (last: reads what a-f logged)


def test_kueue_runs_as_its_service_account_and_is_refused_nothing(stack):
    """Kueue authenticates with a token of its module's ServiceAccount, not the harness's
    admin, and that account's RBAC (the module's) let it do what the scenarios before this
    one asked: its log (every Kueue of this stack, scenario d's too) has no request the API
    server refused for want of a permission."""
    assert stack.kueue.user == USER
    assert stack.kueue.whoami() == USER
    assert stack.kueue.denials() == []
