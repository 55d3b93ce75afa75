"""Faults around the operator, with either driver: functions down, one job's hook failing,
the driver restarted, a slow cold start, children deleted by hand.

The recording proxy in front of the functions injects the hook faults; every
other check reads the API server. What a stop of the driver cuts off (a real
Metacontroller records its cancelled syncs as SyncError events "context canceled")
is no hook failure: operator.errors() leaves it out, operator.cut_off() lists it.
"""

from __future__ import annotations

import time

import pytest

from mpifn import naming
from testkit.cluster import Cluster
from testkit.driver import Fault

from .jobs import TIMEOUT, hello, mpijob, owned_children, phase_is, pods, running_job, submit, wait_settled

pytestmark = [pytest.mark.e2e_k8s, pytest.mark.usefixtures("driver_report")]

# Hook calls refused in the outage: with the drivers' backoff (5 ms, doubling) and resyncs
# every 2 s, about 20 s of it.
OUTAGE_CALLS = 12


def identities(cluster: Cluster, namespace: str, uid: str) -> dict[tuple[str, str], str]:
    """Each child of the parent, and each of its pods, by uid: a recreated object shows as a new uid."""
    found = {key: obj["metadata"]["uid"] for key, obj in owned_children(cluster, namespace, uid).items()}
    found.update({("Pod", p["metadata"]["name"]): p["metadata"]["uid"] for p in pods(cluster, namespace)})
    return found


def versions(cluster: Cluster, namespace: str, uid: str) -> dict[tuple[str, str], str]:
    found = {key: obj["metadata"]["resourceVersion"] for key, obj in owned_children(cluster, namespace, uid).items()}
    found[("MPIJob", "hello")] = mpijob(cluster, namespace)["metadata"]["resourceVersion"]
    return found


def good_sync_after(operator, where: str, moment: float):
    """A good sync asked for after the moment (an answer to an earlier request may come later)."""
    return lambda: any(c.started > moment for c in operator.proxy.calls_for(where, "sync", ok=True))


def test_functions_answering_503_for_a_while_change_nothing_and_the_job_recovers(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    parent = running_job(cluster, namespace)
    uid, where = parent["metadata"]["uid"], f"{namespace}/hello"
    wait_settled(cluster, operator, namespace)
    before = identities(cluster, namespace, uid)
    status_before = mpijob(cluster, namespace)["status"]

    changes: list[str] = []

    def changed_or_over(outage: Fault) -> bool:
        if identities(cluster, namespace, uid) != before:
            changes.append("a child or pod changed while the hooks were down")
        if mpijob(cluster, namespace)["status"] != status_before:
            changes.append("the status changed while the hooks were down")
        return bool(changes) or outage.hits >= OUTAGE_CALLS

    with operator.proxy.fault(Fault(status=503, parent=where, times=OUTAGE_CALLS)) as outage:
        cluster.wait_for(lambda: changed_or_over(outage), f"{OUTAGE_CALLS} refused calls", timeout=90)
    ended = time.monotonic()
    assert changes == []

    cluster.wait_for(good_sync_after(operator, where, ended), "a sync after the outage", timeout=90)
    assert identities(cluster, namespace, uid) == before
    job = mpijob(cluster, namespace)
    assert job["status"]["phase"] == "Running"
    assert job["status"]["workers"]["ready"] == 2


def test_a_hook_failing_for_one_job_leaves_the_others_alone(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    broken = f"{namespace}/broken"
    with operator.proxy.fault(Fault(status=500, parent=broken)):
        job = hello(namespace, replicas=2)
        job["metadata"]["name"] = "broken"
        submit(cluster, job)
        running_job(cluster, namespace, replicas=2, name="hello")
        cluster.wait_for(
            lambda: operator.sync_errors(namespace, "broken"), "a SyncError event on the broken job", timeout=TIMEOUT
        )
        broken_job = mpijob(cluster, namespace, "broken")
        assert "status" not in broken_job or not broken_job["status"].get("phase")
        assert owned_children(cluster, namespace, broken_job["metadata"]["uid"]) == {}
        assert operator.sync_errors(namespace, "hello") == []
        assert [c for c in operator.proxy.errors_in(namespace) if c.parent != broken] == []

    cluster.wait_for(phase_is(cluster, namespace, "Succeeded", "broken"), "the broken job runs once fixed", timeout=120)


def test_a_restarted_driver_recreates_nothing_and_settles_without_writes(operator, k8s_cluster, namespace):
    cluster = k8s_cluster
    parent = running_job(cluster, namespace)
    uid, where = parent["metadata"]["uid"], f"{namespace}/hello"
    before = identities(cluster, namespace, uid)

    # The stop comes while a sync is in flight, its answer held back: the stand-in finishes
    # it first; a real Metacontroller cancels it, which it records as a SyncError event.
    with operator.proxy.fault(Fault(status=0, delay=3.0, parent=where, hook="sync", times=1)) as held:
        cluster.wait_for(lambda: held.hits == 1, "a sync in flight", timeout=60)
        operator.restart()
    restarted = time.monotonic()
    cluster.wait_for(good_sync_after(operator, where, restarted), "a sync by the restarted driver", timeout=60)
    wait_settled(cluster, operator, namespace)
    assert identities(cluster, namespace, uid) == before
    settled = versions(cluster, namespace, uid)
    operator.wait_syncs(where, 3)  # resyncs by the restarted driver
    assert versions(cluster, namespace, uid) == settled
    assert operator.errors(namespace) == []


def test_a_slow_cold_start_still_converges(operator, k8s_cluster, namespace):
    """The first request of a function scaled to zero takes 5 s: within the 10 s hook timeout."""
    cluster = k8s_cluster
    where = f"{namespace}/hello"
    with operator.proxy.fault(Fault(status=0, delay=5.0, parent=where, times=1)) as cold:
        running_job(cluster, namespace)
    assert cold.hits == 1
    first = operator.proxy.calls_for(where)[0]
    assert first.status == 200
    assert operator.errors(namespace) == []


@pytest.mark.parametrize(
    ("kind", "name"), [("Job", naming.launcher_name("hello")), ("Service", naming.worker_name("hello"))]
)
def test_a_child_deleted_by_hand_is_recreated_and_running_workers_stay(operator, k8s_cluster, namespace, kind, name):
    cluster = k8s_cluster
    parent = running_job(cluster, namespace, replicas=3)
    uid = parent["metadata"]["uid"]
    children = owned_children(cluster, namespace, uid)
    gone = children[(kind, name)]["metadata"]["uid"]
    workers = {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(cluster, namespace, "worker")}

    cluster.kubectl("delete", kind.lower(), name, "-n", namespace, "--wait=true", "--timeout=60s")
    again = cluster.wait_for(
        lambda: (c := owned_children(cluster, namespace, uid).get((kind, name))) and c["metadata"]["uid"] != gone and c,
        f"the {kind} {name} recreated",
        timeout=TIMEOUT,
    )
    assert again["metadata"]["ownerReferences"][0]["uid"] == uid
    cluster.wait_for(phase_is(cluster, namespace, "Running"), "MPIJob Running", timeout=TIMEOUT)
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(cluster, namespace, "worker")} == workers
    assert operator.errors(namespace) == []
