"""Issue 4: the MPIJob lifecycle through a real kube-apiserver, kwok and the hooks.

The hooks are served by ``python -m mpifn.serve`` behind the recording proxy
and driven by the real Metacontroller (MPIFN_METACONTROLLER_BIN) or the
stand-in (testkit/hookdriver.py). Every assertion is on objects and status read back
with kubectl, or on the hook calls the proxy saw.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import yaml

from mpifn import api, naming
from testkit.kwok import ANN_FAIL, ANN_HOLD

from .jobs import (
    MPIJOBS,
    TIMEOUT,
    expected_children,
    hello,
    mpijob,
    owned_children,
    phase_is,
    pods,
    submit,
    wait_settled,
)

pytestmark = [pytest.mark.e2e_k8s, pytest.mark.usefixtures("driver_report")]


def utc_now() -> str:
    """Now as the API server writes times (RFC 3339, to the second): comparable as text."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- a


def test_a_children_pods_status_and_printer_columns(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    parent = submit(cluster, hello(namespace, replicas=4, launcher_annotations={ANN_HOLD: "true"}))
    uid = parent["metadata"]["uid"]

    children = cluster.wait_for(
        lambda: (c := owned_children(cluster, namespace, uid)) and set(c) >= expected_children() and c,
        "the five children owned by the MPIJob",
        timeout=TIMEOUT,
    )
    assert set(children) == expected_children()
    for (kind, name), child in children.items():
        [ref] = child["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("MPIJob", "hello", uid, True), (kind, name)

    workers = cluster.wait_for(
        lambda: (
            len(r := [p for p in pods(cluster, namespace, "worker") if p["status"].get("phase") == "Running"]) == 4
            and r
        ),
        "4 worker pods Running",
        timeout=TIMEOUT,
    )
    assert sorted(p["metadata"]["name"] for p in workers) == [naming.worker_pod_name("hello", i) for i in range(4)]

    job = cluster.wait_for(phase_is(cluster, namespace, "Running"), "MPIJob phase Running", timeout=TIMEOUT)
    status = job["status"]
    assert status["workers"] == {"desired": 4, "current": 4, "ready": 4}
    assert status["launcher"]["state"] == "Active"
    assert status["startTime"]
    assert "completionTime" not in status
    assert job["metadata"]["finalizers"] == [operator.finalizer]

    table = cluster.kubectl("get", MPIJOBS, "-n", namespace)
    header, row = table.strip().splitlines()
    assert header.split() == ["NAME", "DESIRED", "READY", "PHASE", "REASON", "AGE"]
    assert row.split()[:5] == ["hello", "4", "4", "Running", "LauncherRunning"]
    assert operator.errors(namespace) == []


# --------------------------------------------------------------------------- b


def test_b_launcher_completes(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    submit(cluster, hello(namespace, replicas=4))

    job = cluster.wait_for(phase_is(cluster, namespace, "Succeeded"), "MPIJob phase Succeeded", timeout=TIMEOUT)
    status = job["status"]
    assert status["reason"] == "LauncherSucceeded"
    assert status["completionTime"] >= status["startTime"]
    assert status["launcher"]["state"] == "Succeeded"
    launcher_pods = pods(cluster, namespace, "launcher")
    assert [p["status"]["phase"] for p in launcher_pods] == ["Succeeded"]

    # cleanPodPolicy Running (the default): the workers are scaled to zero
    sts = cluster.wait_for(
        lambda: (
            (s := cluster.get("statefulset", naming.worker_name("hello"), namespace))["spec"]["replicas"] == 0 and s
        ),
        "worker StatefulSet scaled to 0",
        timeout=TIMEOUT,
    )
    assert sts["spec"]["replicas"] == 0
    cluster.wait_for(lambda: pods(cluster, namespace, "worker") == [], "worker pods gone", timeout=TIMEOUT)
    job = cluster.wait_for(
        lambda: (j := mpijob(cluster, namespace))["status"]["workers"]["current"] == 0 and j,
        "status.workers.current == 0",
        timeout=TIMEOUT,
    )
    assert job["status"]["phase"] == "Succeeded"
    assert job["status"]["workers"]["desired"] == 0
    assert operator.errors(namespace) == []


# --------------------------------------------------------------------------- c


def test_c_launcher_fails(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    submit(cluster, hello(namespace, replicas=2, launcher_annotations={ANN_FAIL: "true"}))

    # Told from the launcher pod (the customize hook's), refined if the Job's failure came first.
    job = cluster.wait_for(
        lambda: (j := phase_is(cluster, namespace, "Failed")()) and j["status"]["reason"] == "MPIRunFailed" and j,
        "MPIJob phase Failed, reason MPIRunFailed",
        timeout=TIMEOUT,
    )
    status = job["status"]
    assert status["message"] == "mpirun exited with code 1 (Error)"
    assert (status["launcher"]["state"], status["launcher"]["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert status["launcher"]["failed"] >= 1
    assert status["completionTime"]
    failed = {c["type"]: c for c in status["conditions"]}["Failed"]
    assert (failed["status"], failed["reason"]) == ("True", "MPIRunFailed")
    assert [p["status"]["phase"] for p in pods(cluster, namespace, "launcher")] == ["Failed"]
    assert operator.errors(namespace) == []


# --------------------------------------------------------------------------- d


def test_d_steady_state_writes_nothing(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    parent = submit(cluster, hello(namespace, replicas=2, launcher_annotations={ANN_HOLD: "true"}))
    uid = parent["metadata"]["uid"]
    cluster.wait_for(
        lambda: (j := phase_is(cluster, namespace, "Running")()) and j["status"]["workers"]["ready"] == 2,
        "MPIJob Running with 2 ready workers",
        timeout=TIMEOUT,
    )
    wait_settled(cluster, operator, namespace)

    def versions() -> dict:
        children = owned_children(cluster, namespace, uid)
        return {key: obj["metadata"]["resourceVersion"] for key, obj in children.items()}

    before = versions()
    parent_before = mpijob(cluster, namespace)["metadata"]["resourceVersion"]
    operator.wait_syncs(f"{namespace}/hello", 4)  # resyncs with nothing changed
    assert set(before) == expected_children()
    assert versions() == before
    assert mpijob(cluster, namespace)["metadata"]["resourceVersion"] == parent_before
    assert operator.errors(namespace) == []


# --------------------------------------------------------------------------- e


def test_e_delete_runs_finalize(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    parent = submit(cluster, hello(namespace, replicas=2, launcher_annotations={ANN_HOLD: "true"}))
    uid = parent["metadata"]["uid"]
    job = cluster.wait_for(phase_is(cluster, namespace, "Running"), "MPIJob phase Running", timeout=TIMEOUT)
    assert operator.finalizer in job["metadata"]["finalizers"]
    assert len(pods(cluster, namespace)) == 3

    cluster.kubectl("delete", MPIJOBS, "hello", "-n", namespace, "--wait=false")
    cluster.wait_for(
        lambda: cluster.get_or_none(MPIJOBS, "hello", namespace) is None, "the MPIJob to disappear", timeout=TIMEOUT
    )
    assert ("finalize", f"{namespace}/hello") in operator.calls
    cluster.wait_for(lambda: owned_children(cluster, namespace, uid) == {}, "children gone", timeout=TIMEOUT)
    cluster.wait_for(lambda: pods(cluster, namespace) == [], "pods gone", timeout=TIMEOUT)
    assert operator.errors(namespace) == []


# --------------------------------------------------------------------------- f


@pytest.mark.parametrize(
    ("min_replicas", "phase"),
    [(None, "Running"), (3, "Pending")],
    ids=["minReplicas-default-1", "minReplicas-3"],
)
def test_f_daemons_leave_a_worker_pending(operator, k8s_cluster, namespace, min_replicas, phase):
    """With daemons minReplicas defaults to 1 (CRD), so mpirun may start with 2 of 3 workers:
    Running; with minReplicas 3 the job waits: Pending. Either way the status says why."""
    cluster = k8s_cluster
    nodes = [n for n in cluster.get("nodes") if not n["spec"].get("unschedulable")]
    assert len(nodes) == 2, [n["metadata"]["name"] for n in nodes]
    extra = {"minReplicas": min_replicas} if min_replicas else {}
    submit(cluster, hello(namespace, replicas=3, daemons=True, launcher_annotations={ANN_HOLD: "true"}, **extra))

    def two_running_one_pending():
        workers = pods(cluster, namespace, "worker")
        phases = sorted(p["status"].get("phase") for p in workers)
        return workers if phases == ["Pending", "Running", "Running"] else None

    workers = cluster.wait_for(two_running_one_pending, "2 workers Running, 1 Pending", timeout=TIMEOUT)
    running = [p for p in workers if p["status"]["phase"] == "Running"]
    assert len({p["spec"]["nodeName"] for p in running}) == 2
    [pending] = [p for p in workers if p["status"]["phase"] == "Pending"]
    scheduled = {c["type"]: c for c in pending["status"].get("conditions", [])}.get("PodScheduled", {})
    assert scheduled.get("reason") == "Unschedulable"
    assert "anti-affinity" in scheduled.get("message", "")

    cluster.wait_for(
        lambda: (j := phase_is(cluster, namespace, phase)()) and j["status"]["workers"]["ready"] == 2 and j,
        f"phase {phase} with status.workers.ready == 2",
        timeout=TIMEOUT,
    )
    operator.wait_syncs(f"{namespace}/hello", 2)  # a few resyncs later, with the pod still Pending
    status = mpijob(cluster, namespace)["status"]
    assert status["phase"] == phase
    assert status["workers"] == {"desired": 3, "current": 3, "ready": 2}
    assert "daemons" in status["message"], status["message"]
    assert operator.errors(namespace) == []


# --------------------------------------------------------------------------- g


def test_g_invalid_spec_is_named_and_creates_nothing(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    job = hello(namespace, replicas=2, minReplicas=3)
    cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(job))  # the schema lets it in
    parent = submit(cluster, job)

    job = cluster.wait_for(
        lambda: (j := mpijob(cluster, namespace)).get("status", {}).get("reason") and j,
        "a status on the invalid MPIJob",
        timeout=TIMEOUT,
    )
    status = job["status"]
    assert status["reason"] == "InvalidSpec"
    assert status["phase"] == "Failed"
    assert "minReplicas" in status["message"]
    operator.wait_syncs(f"{namespace}/hello", 2)  # a few more syncs
    assert owned_children(cluster, namespace, parent["metadata"]["uid"]) == {}
    assert pods(cluster, namespace) == []
    assert operator.errors(namespace) == []


# --------------------------------------------------------------------------- h


def test_h_pod_security_restricted_admits_every_pod(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    submit(cluster, hello(namespace, replicas=2, launcher_annotations={ANN_HOLD: "true"}))

    def all_pods_running():
        found = pods(cluster, namespace)
        roles = sorted(p["metadata"]["labels"].get(api.LABEL_ROLE) for p in found)
        running = {p["status"].get("phase") for p in found} == {"Running"}
        return found if roles == ["launcher", "worker", "worker"] and running else None

    try:
        found = cluster.wait_for(all_pods_running, "the launcher pod and 2 worker pods Running", timeout=TIMEOUT)
    except TimeoutError:
        found = None
    events = cluster.get("events", namespace=namespace)
    refused = [f"{e['involvedObject']['name']}: {e['message']}" for e in events if e.get("reason") == "FailedCreate"]
    assert refused == []
    assert found is not None, (
        f"pods: {[(p['metadata']['name'], p['status'].get('phase')) for p in pods(cluster, namespace)]}"
    )
    cluster.wait_for(phase_is(cluster, namespace, "Running"), "MPIJob phase Running", timeout=TIMEOUT)
    assert operator.errors(namespace) == []


# --------------------------------------------------------------------------- issue 5 on the real control plane


def test_suspend_stops_every_pod_and_resume_brings_them_back(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    submit(cluster, hello(namespace, replicas=2, launcher_annotations={ANN_HOLD: "true"}))
    cluster.wait_for(phase_is(cluster, namespace, "Running"), "MPIJob phase Running", timeout=TIMEOUT)
    first_start = mpijob(cluster, namespace)["status"]["startTime"]

    cluster.kubectl("patch", MPIJOBS, "hello", "-n", namespace, "--type=merge",
                    "-p", '{"spec": {"runPolicy": {"suspend": true}}}')  # fmt: skip
    job = cluster.wait_for(phase_is(cluster, namespace, "Suspended"), "MPIJob phase Suspended", timeout=TIMEOUT)
    assert "startTime" not in job["status"]
    cluster.wait_for(lambda: pods(cluster, namespace) == [], "every pod of the job gone", timeout=TIMEOUT)
    launcher = cluster.get("job", naming.launcher_name("hello"), namespace)
    assert launcher["spec"]["suspend"] is True
    assert cluster.get("statefulset", naming.worker_name("hello"), namespace)["spec"]["replicas"] == 0

    # startTime has a resolution of one second: the resumed run must start in a later one
    cluster.wait_for(lambda: utc_now() > first_start, "the clock past the first startTime", timeout=5, interval=0.05)
    cluster.kubectl("patch", MPIJOBS, "hello", "-n", namespace, "--type=merge",
                    "-p", '{"spec": {"runPolicy": {"suspend": false}}}')  # fmt: skip
    job = cluster.wait_for(phase_is(cluster, namespace, "Running"), "MPIJob Running again", timeout=TIMEOUT)
    assert job["status"]["startTime"] > first_start
    assert len(pods(cluster, namespace, "worker")) == 2
    assert cluster.get("job", naming.launcher_name("hello"), namespace)["spec"]["suspend"] is False
    assert operator.errors(namespace) == []


def place(cluster, namespace: str, node: str | None) -> None:
    """What Kueue does to a job's templates: on admission (`node`) a flavor's node selector,
    toleration and labels, then resume; on eviction (None) suspend and take them back."""
    placement = (
        {
            "metadata": {"labels": {"flavor": node}},
            "spec": {
                "nodeSelector": {"kubernetes.io/hostname": node},
                "tolerations": [{"key": "flavor", "operator": "Exists", "effect": "NoSchedule"}],
            },
        }
        if node
        else {"metadata": {"labels": {"flavor": None}}, "spec": {"nodeSelector": None, "tolerations": None}}
    )
    patch = {"spec": {"template": placement, "launcher": {"template": placement}, "runPolicy": {"suspend": not node}}}
    cluster.kubectl("patch", MPIJOBS, "hello", "-n", namespace, "--type=merge", "-p", json.dumps(patch))


def test_a_launcher_job_made_while_suspended_runs_with_the_directives_given_at_resume(operator, k8s_cluster, namespace):
    """Kueue's admission, eviction and admission elsewhere, played by hand: the launcher Job
    created suspended, and suspended again after it ran, takes each placement in place."""
    cluster = k8s_cluster
    job = hello(namespace, replicas=2, launcher_annotations={ANN_HOLD: "true"})
    job["spec"]["runPolicy"] = {"suspend": True}
    submit(cluster, job)
    cluster.wait_for(phase_is(cluster, namespace, "Suspended"), "MPIJob phase Suspended", timeout=TIMEOUT)
    cluster.wait_for(
        lambda: cluster.get_or_none("job", naming.launcher_name("hello"), namespace),
        "the launcher Job",
        timeout=TIMEOUT,
    )
    nodes = cluster.node_names[:2]
    for step, node in enumerate([nodes[0], None, nodes[1]]):
        place(cluster, namespace, node)
        if node is None:
            cluster.wait_for(lambda: pods(cluster, namespace) == [], "every pod gone", timeout=TIMEOUT)
            continue
        running = cluster.wait_for(
            lambda: len(r := [p for p in pods(cluster, namespace) if p["status"].get("phase") == "Running"]) == 3 and r,
            f"launcher and 2 workers Running (admission {step})",
            timeout=TIMEOUT,
        )
        for pod in running:
            where = (pod["spec"]["nodeName"], pod["metadata"]["labels"]["flavor"])
            assert where == (node, node), pod["metadata"]["name"]
        launcher = cluster.get("job", naming.launcher_name("hello"), namespace)
        assert launcher["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/hostname": node}
    assert operator.errors(namespace) == []


def test_ttl_removes_the_children_of_a_finished_job(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    parent = submit(cluster, hello(namespace, replicas=2, runPolicy={"ttlSecondsAfterFinished": 3}))
    cluster.wait_for(phase_is(cluster, namespace, "Succeeded"), "MPIJob phase Succeeded", timeout=TIMEOUT)
    uid = parent["metadata"]["uid"]
    cluster.wait_for(
        lambda: owned_children(cluster, namespace, uid) == {}, "every child removed after the TTL", timeout=TIMEOUT
    )
    job = mpijob(cluster, namespace)
    assert job["status"]["phase"] == "Succeeded"  # the MPIJob itself stays; only its children go
    assert operator.errors(namespace) == []
