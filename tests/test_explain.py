"""When sync asks the explain controller to read a job's pods (mpifn.explain): only while
the job is stuck past MPIFN_EXPLAIN_AFTER_SECONDS, or failed and not yet told why; and what
the explain controller keeps of the pods."""

from datetime import timedelta

from mpifn.settings import Settings
from testkit import calls
from testkit import pods as shapes
from testkit.metacontroller import EXPLAINING_CONTROLLER, as_observed, hook_request, with_status
from tests.test_pod_status import FAILED_JOB, T0, launcher, settled, worker

GRACE = Settings().explain_after_seconds


def sync_at(parent, children, now, controller=EXPLAINING_CONTROLLER):
    return calls.sync(hook_request(parent, children, controller=controller), now=now)


def explanations(answer):
    return [c for c in answer["children"] if c["kind"] == "MPIJobExplanation"]


def test_a_stuck_job_is_explained_once_it_made_no_progress_for_the_grace(hello):
    parent, children, _ = settled(hello, ready=1)
    first = sync_at(parent, children, T0)
    assert explanations(first) == [] and first["resyncAfterSeconds"] == GRACE
    assert first["status"]["progressTime"] == "2026-11-28T12:00:00Z"
    parent = {**parent, "status": first["status"]}
    early = sync_at(parent, children, T0 + timedelta(seconds=GRACE - 5))
    assert explanations(early) == [] and early["resyncAfterSeconds"] == 5
    late = sync_at(parent, children, T0 + timedelta(seconds=GRACE))
    assert explanations(late) == [
        {
            "apiVersion": "mpifn.dev/v1",
            "kind": "MPIJobExplanation",
            "metadata": {"name": "hello-pods", "labels": {"mpifn.dev/job-name": "hello"}},
            "spec": {"job": "hello", "workerPods": True},
        }
    ]
    assert "resyncAfterSeconds" not in late
    assert late["status"] == first["status"]  # asking for it writes nothing to the job's status


def test_no_timer_while_a_change_of_the_children_is_certain_to_sync_the_job_again(hello):
    """Each timer is a sync Metacontroller makes whatever happened meanwhile: none is asked
    for while a child is still to be created or its controller has not yet looked at it."""
    new = sync_at(hello, [], T0)
    assert new["status"]["phase"] == "Pending" and "resyncAfterSeconds" not in new
    parent, children, _ = settled(hello, ready=0)
    behind = [
        {**child, "metadata": {**child["metadata"], "generation": 2}, "status": {"observedGeneration": 1}}
        if child["kind"] == "StatefulSet"
        else child
        for child in children
    ]
    assert "resyncAfterSeconds" not in sync_at(parent, behind, T0)
    caught_up = with_status(behind, "StatefulSet", {"observedGeneration": 2, "replicas": 2, "readyReplicas": 0})
    assert sync_at(parent, caught_up, T0)["resyncAfterSeconds"] == GRACE


def test_progress_restarts_the_clock_but_an_explanation_stays_while_stuck(hello):
    parent, children, desired = settled(hello, ready=0)
    first = sync_at(parent, children, T0)
    later = T0 + timedelta(seconds=GRACE + 30)
    one_ready = with_status(children, "StatefulSet", {"replicas": 2, "readyReplicas": 1})
    moved = sync_at({**parent, "status": first["status"]}, one_ready, later)
    assert moved["status"]["progressTime"] == "2026-11-28T12:01:30Z"
    assert explanations(moved) == [] and moved["resyncAfterSeconds"] == GRACE
    explained = [*one_ready, shapes.explanation_with(parent, [shapes.image_pull(worker(desired, 1))])]
    kept = sync_at({**parent, "status": moved["status"]}, explained, later)
    assert len(explanations(kept)) == 1 and kept["status"]["reason"] == "ImagePullBackOff"


def test_a_healthy_running_job_asks_for_nothing(hello):
    parent, children, _ = settled(hello, ready=2, launcher={"active": 1, "ready": 1})
    answer = sync_at(parent, children, T0 + timedelta(hours=1))
    assert answer["status"]["phase"] == "Running"
    assert explanations(answer) == [] and "resyncAfterSeconds" not in answer


def test_without_the_label_no_explanation_is_asked_for(hello):
    """The Component no-pod-status removes the controller's label: no pod is ever read."""
    parent, children, _ = settled(hello, ready=1)
    first = sync_at(parent, children, T0, controller={})
    answer = sync_at({**parent, "status": first["status"]}, children, T0 + timedelta(hours=1), controller={})
    assert explanations(answer) == [] and "resyncAfterSeconds" not in answer


def test_a_failed_job_is_explained_until_its_status_shows_what_the_ended_pods_said(hello):
    parent, children, desired = settled(hello, ready=2, launcher=FAILED_JOB)
    asked = sync_at(parent, children, T0)
    assert len(explanations(asked)) == 1 and "pods" not in asked["status"]
    still_running = shapes.explanation_with(parent, [shapes.launcher_running(launcher(desired), "mpifn-init: ok: x\n")])
    waiting = sync_at({**parent, "status": asked["status"]}, [*children, still_running], T0)
    assert len(explanations(waiting)) == 1 and "pods" not in waiting["status"]
    ended = shapes.explanation_with(parent, [shapes.launcher_ended(launcher(desired), 3, log_tail="boom\n")])
    told = sync_at({**parent, "status": waiting["status"]}, [*children, ended], T0)
    assert told["status"]["reason"] == "MPIRunFailed" and told["status"]["pods"]["read"] == 1
    done = sync_at({**parent, "status": told["status"]}, [*children, ended], T0)
    assert explanations(done) == [] and done["status"] == told["status"]
    gone = sync_at({**parent, "status": done["status"]}, children, T0 + timedelta(hours=1))
    assert explanations(gone) == [] and gone["status"] == told["status"]


def test_a_failure_the_pods_cannot_explain_is_asked_about_once(hello):
    parent, children, _ = settled(hello, ready=2, launcher=FAILED_JOB)
    no_pods = shapes.explanation_with(parent, [])
    told = sync_at(parent, [*children, no_pods], T0)
    assert told["status"]["reason"] == "BackoffLimitExceeded"
    assert told["status"]["pods"] == {"read": 0, "problems": {}, "details": []}
    done = sync_at({**parent, "status": told["status"]}, children, T0 + timedelta(hours=1))
    assert explanations(done) == [] and done["status"] == told["status"]


def test_the_explanation_keeps_only_the_telling_pods_and_only_what_is_read(hello):
    _, _, desired = settled(hello, ready=1)
    healthy, stuck = worker(desired, 0), shapes.image_pull(worker(desired, 1))
    stuck["metadata"]["managedFields"] = [{"manager": "kubelet"}]
    stuck["metadata"]["annotations"] = {"big": "x" * 10000}
    explanation = shapes.explanation_with(hello, [healthy, stuck, launcher(desired)])
    kept = explanation["status"]["pods"]
    assert explanation["status"]["read"] == 3
    assert [p["metadata"]["name"] for p in kept] == ["hello-worker-1", "hello-launcher-x7k2p"]
    assert set(kept[0]["metadata"]) == {"name", "namespace", "creationTimestamp", "labels"}
    assert set(kept[0]["metadata"]["labels"]) == {"mpifn.dev/job-name", "mpifn.dev/role"}
    assert set(kept[0]["spec"]) <= {"containers", "initContainers", "affinity"}
    assert all(set(c) <= {"name", "image", "resources"} for c in kept[0]["spec"]["containers"])
    assert calls.sync({"controller": {}, "parent": explanation, "related": shapes.related([stuck])})["children"] == []


def test_an_explanation_of_a_job_that_expired_is_not_asked_for(hello):
    hello["spec"]["runPolicy"] = {"ttlSecondsAfterFinished": 1}
    parent, children, _ = settled(hello, ready=2, launcher=FAILED_JOB)
    told = sync_at(parent, [*children, *as_observed([])], T0)
    expired = sync_at({**parent, "status": told["status"]}, children, T0 + timedelta(hours=1))
    assert expired["children"] == []
