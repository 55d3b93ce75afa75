"""What Metacontroller does around the hooks, and what the operator's answers lead to under it.

Run with either driver (the real Metacontroller with MPIFN_METACONTROLLER_BIN, or
the stand-in): the same assertions hold for both. Hook calls are read from the
recording proxy, everything else from the API server.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest

from mpifn import api, naming
from testkit.cluster import Cluster
from testkit.driver import Fault

from .conftest import RESYNC_SECONDS
from .jobs import (
    MPIJOBS,
    TIMEOUT,
    mpijob,
    observed_versions,
    owned_children,
    phase_is,
    pods,
    running_job,
    wait_settled,
)

pytestmark = [pytest.mark.e2e_k8s, pytest.mark.usefixtures("driver_report")]

LAST_APPLIED = api.LAST_APPLIED_ANNOTATION
QUIET_RESYNC = 3600  # "no resync" for the tests that must see what else triggers a sync
RETRIES = 10  # failed syncs of a failing hook: enough for the backoff's delays to pass a second


def worker_uids(cluster: Cluster, namespace: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(cluster, namespace, "worker")}


def statefulset(cluster: Cluster, namespace: str) -> dict:
    return cluster.get("statefulset", naming.worker_name("hello"), namespace)


# --------------------------------------------------------------------------- edits by hand


def test_a_hand_scaled_worker_statefulset_is_scaled_back(operator, k8s_cluster, namespace):
    """The MPIJob says how many workers run: scaling its StatefulSet by hand is undone (what
    `kubectl scale` on a Deployment's ReplicaSet does too); running workers are kept."""
    cluster = k8s_cluster
    running_job(cluster, namespace, replicas=3)
    before = worker_uids(cluster, namespace)

    cluster.kubectl("scale", "statefulset", naming.worker_name("hello"), "-n", namespace, "--replicas=1")
    cluster.wait_for(
        lambda: statefulset(cluster, namespace)["spec"]["replicas"] == 3, "replicas back at 3", timeout=TIMEOUT
    )
    job = cluster.wait_for(
        lambda: (j := mpijob(cluster, namespace))["status"]["workers"]["ready"] == 3 and j,
        "3 ready workers again",
        timeout=TIMEOUT,
    )
    assert job["status"]["phase"] == "Running"
    after = worker_uids(cluster, namespace)
    assert after[naming.worker_pod_name("hello", 0)] == before[naming.worker_pod_name("hello", 0)]
    assert operator.errors(namespace) == []


def test_scaling_the_mpijob_scales_the_workers_and_records_the_generation(operator, k8s_cluster, namespace):
    """The way to change the worker count is the MPIJob; its status says which spec it reflects."""
    cluster = k8s_cluster
    running_job(cluster, namespace, replicas=3)
    cluster.kubectl("patch", MPIJOBS, "hello", "-n", namespace, "--type=merge", "-p", '{"spec": {"replicas": 2}}')
    job = cluster.wait_for(
        lambda: (
            (j := mpijob(cluster, namespace))["status"].get("observedGeneration") == j["metadata"]["generation"]
            and j["status"]["workers"]["desired"] == 2
            and j
        ),
        "status.observedGeneration at the new generation, 2 workers desired",
        timeout=TIMEOUT,
    )
    assert job["metadata"]["generation"] >= 2
    cluster.wait_for(lambda: statefulset(cluster, namespace)["spec"]["replicas"] == 2, "2 replicas", timeout=TIMEOUT)
    assert operator.errors(namespace) == []


def test_hand_edits_of_the_launcher_keep_other_fields_and_revert_the_operators(operator, k8s_cluster, namespace):
    """A label someone adds to the launcher Job stays; suspending it by hand is undone, because
    the MPIJob's runPolicy.suspend is what says whether the job runs."""
    cluster = k8s_cluster
    running_job(cluster, namespace, replicas=2)
    launcher = naming.launcher_name("hello")
    cluster.kubectl("label", "job", launcher, "-n", namespace, "team=hpc")
    cluster.kubectl("patch", "job", launcher, "-n", namespace, "--type=merge", "-p", '{"spec": {"suspend": true}}')

    job = cluster.wait_for(
        lambda: (j := cluster.get("job", launcher, namespace))["spec"].get("suspend") is False and j,
        "the launcher Job resumed",
        timeout=TIMEOUT,
    )
    assert job["metadata"]["labels"]["team"] == "hpc"
    cluster.wait_for(phase_is(cluster, namespace, "Running"), "MPIJob Running again", timeout=TIMEOUT)
    assert operator.errors(namespace) == []


def test_children_carry_the_controller_uid_label_as_applied(operator, k8s_cluster, namespace):
    """Dynamic apply (the stand-in's, and Metacontroller's default) records what it applied
    in each child's last-applied copy; server-side apply records it as the field manager's
    Apply entry, and no copy."""
    cluster = k8s_cluster
    parent = running_job(cluster, namespace, replicas=1)
    uid = parent["metadata"]["uid"]
    children = owned_children(cluster, namespace, uid)
    assert len(children) == 5
    server_side = operator.real is not None and operator.real.apply_strategy == "server-side-apply"
    for key, child in children.items():
        assert child["metadata"]["labels"]["controller-uid"] == uid, key
        annotations = child["metadata"].get("annotations") or {}
        if server_side:
            assert LAST_APPLIED not in annotations, key
            stored = cluster.get(child["kind"], child["metadata"]["name"], namespace, show_managed_fields="true")
            managers = {(entry["manager"], entry["operation"]) for entry in stored["metadata"]["managedFields"]}
            assert ("metacontroller", "Apply") in managers, key
            continue
        applied = json.loads(annotations[LAST_APPLIED])
        assert applied["metadata"]["labels"]["controller-uid"] == uid, key
        assert applied["metadata"]["namespace"] == namespace, key
        assert "ownerReferences" not in applied["metadata"], key


# --------------------------------------------------------------------------- what triggers a sync


@pytest.fixture
def quiet_operator(operator):
    """The driver restarted with a resync period too long to matter, restored afterwards."""
    operator.restart(resync_seconds=QUIET_RESYNC)
    try:
        yield operator
    finally:
        operator.restart()


def test_only_watch_events_trigger_a_sync_between_resyncs(quiet_operator, k8s_cluster, namespace):
    """Without a due resync an idle job gets no sync; a child changed by someone else brings one."""
    cluster, operator = k8s_cluster, quiet_operator
    parent = running_job(cluster, namespace, replicas=1)
    where = f"{namespace}/hello"
    wait_settled(cluster, operator, namespace)  # the syncs caused by the last status changes are done
    before = len(operator.proxy.calls_for(where))
    # No event marks a sync that does not come: watch for one over three of the suite's resync periods.
    with pytest.raises(TimeoutError):
        cluster.wait_for(lambda: len(operator.proxy.calls_for(where)) > before, "a sync", timeout=3 * RESYNC_SECONDS)
    assert len(operator.proxy.calls_for(where)) == before, "a sync came with nothing changed and no resync due"

    config = naming.config_name("hello")
    cluster.kubectl("annotate", "configmap", config, "-n", namespace, "e2e.mpifn.test/touched=yes")
    cluster.wait_for(
        lambda: len(operator.proxy.calls_for(where)) > before, "a sync after the child changed", timeout=30
    )
    touched = cluster.get("configmap", config, namespace)
    assert touched["metadata"]["annotations"]["e2e.mpifn.test/touched"] == "yes"  # not the hook's field: kept
    assert owned_children(cluster, namespace, parent["metadata"]["uid"]).keys() >= {("ConfigMap", config)}
    assert operator.errors(namespace) == []


def test_a_failing_hook_is_retried_with_growing_delays_and_recorded_on_the_parent(
    quiet_operator, k8s_cluster, namespace
):
    cluster, operator = k8s_cluster, quiet_operator
    parent = running_job(cluster, namespace, replicas=1)
    where = f"{namespace}/hello"
    wait_settled(cluster, operator, namespace)

    def failed_since(start: float) -> list[float]:
        return [c.at for c in operator.proxy.calls_for(where) if c.started >= start and c.status == 500]

    with operator.proxy.fault(Fault(status=500, parent=where)):
        start = time.monotonic()
        cluster.kubectl("annotate", MPIJOBS, "hello", "-n", namespace, "e2e.mpifn.test/poke=1")
        # the 10th failure comes about 5 ms * 2**8 = 1.3 s after the 9th
        failed = cluster.wait_for(lambda: len(f := failed_since(start)) >= RETRIES and f, f"{RETRIES} failed syncs")
    ended = time.monotonic()
    gaps = [later - earlier for earlier, later in itertools.pairwise(failed)]
    assert gaps[0] < 0.5 and gaps[-1] > 1.0, gaps
    long_gaps = [g for g in gaps if g > 0.2]  # shorter ones are mostly the time a sync takes; each doubles
    assert all(later > 1.1 * earlier for earlier, later in itertools.pairwise(long_gaps)), [round(g, 3) for g in gaps]
    events = cluster.wait_for(lambda: operator.sync_errors(namespace, "hello"), "a SyncError event on the MPIJob")
    assert "500" in events[0]

    cluster.wait_for(
        lambda: operator.proxy.calls_for(where, "sync", ok=True)[-1].started > ended, "a good sync after", timeout=60
    )
    assert mpijob(cluster, namespace)["metadata"]["uid"] == parent["metadata"]["uid"]
    assert len(owned_children(cluster, namespace, parent["metadata"]["uid"])) == 5


def test_429_is_retried_after_its_retry_after_without_an_error_event(quiet_operator, k8s_cluster, namespace):
    cluster, operator = k8s_cluster, quiet_operator
    running_job(cluster, namespace, replicas=1)
    where = f"{namespace}/hello"
    wait_settled(cluster, operator, namespace)
    with operator.proxy.fault(Fault(status=429, parent=where, times=1, retry_after=4)) as fault:
        cluster.kubectl("annotate", MPIJOBS, "hello", "-n", namespace, "e2e.mpifn.test/poke=1")
        # the recorded call, not fault.hits: the proxy counts the hit before it records the call
        [refused] = cluster.wait_for(
            lambda: [c for c in operator.proxy.calls_for(where) if c.status == 429], "the 429 answer", timeout=30
        )
        retry = cluster.wait_for(
            lambda: [c for c in operator.proxy.calls_for(where, ok=True) if c.at > refused.at], "the retry", timeout=30
        )
        assert fault.hits == 1
    changed = {k: v for k, v in observed_versions(retry[0]).items() if observed_versions(refused).get(k) != v}
    assert retry[0].at - refused.at >= 3.9, f"{retry[0].at - refused.at:.2f} s later, having seen changed: {changed}"
    assert operator.sync_errors(namespace) == []
