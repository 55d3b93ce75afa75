"""Run policy, suspension, deadlines, gang scheduling and the drop-in APIs."""

import copy
from datetime import UTC, datetime, timedelta

import pytest

from mpifn.lifecycle import timestamp
from mpifn.observed import parse_timestamp
from testkit import calls
from testkit.metacontroller import hook_request, with_status
from tests.conftest import FIXTURES, load_yaml
from tests.support.kubernetes import validate_strict
from tests.test_hooks import T0, settle

COMPLETE = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}


def kinds(response):
    return {c["kind"]: c for c in response["children"]}


def sync(parent, observed, now=T0, controller=None):
    request = hook_request(parent, observed)
    if controller is not None:
        request["controller"] = controller
    return calls.sync(request, now=now)


@pytest.mark.parametrize(
    ("policy", "workers", "launcher"), [("None", 2, True), ("Running", 0, True), ("All", 0, False)]
)
def test_clean_pod_policy_decides_what_a_finished_job_keeps(hello, policy, workers, launcher):
    hello["spec"]["runPolicy"] = {"cleanPodPolicy": policy}
    parent, observed, _ = settle(hello)
    done = kinds(sync(parent, with_status(observed, "Job", COMPLETE)))
    assert done["StatefulSet"]["spec"]["replicas"] == workers
    assert ("Job" in done) is launcher


def test_finished_phase_is_kept_once_the_launcher_is_gone(hello):
    hello["spec"]["runPolicy"] = {"cleanPodPolicy": "All"}
    parent, observed, _ = settle(hello)
    done = sync(parent, with_status(observed, "Job", COMPLETE))
    without_launcher = [c for c in observed if c["kind"] != "Job"]
    later = sync({**parent, "status": done["status"]}, without_launcher, now=T0 + timedelta(minutes=1))
    assert later["status"]["phase"] == "Succeeded"
    assert "Job" not in kinds(later)


def test_ttl_removes_the_children_after_it_and_asks_to_come_back(hello):
    hello["spec"]["runPolicy"] = {"ttlSecondsAfterFinished": 60}
    parent, observed, _ = settle(hello)
    done = sync(parent, with_status(observed, "Job", COMPLETE))
    assert done["resyncAfterSeconds"] == 60
    finished = {**parent, "status": done["status"]}
    assert sync(finished, observed, now=T0 + timedelta(seconds=30))["resyncAfterSeconds"] == 30
    expired = sync(finished, observed, now=T0 + timedelta(seconds=60))
    assert expired["children"] == []
    assert expired["status"]["phase"] == "Succeeded"


def test_an_idle_job_asks_for_no_resync(hello):
    """Finished (without TTL) or running without a deadline: nothing changes with time alone,
    so Metacontroller is not asked to call again."""
    parent, observed, first = settle(hello)
    assert "resyncAfterSeconds" not in first
    running = with_status(observed, "Job", {"active": 1})
    assert "resyncAfterSeconds" not in sync(parent, running, now=T0 + timedelta(hours=5))
    done = sync(parent, with_status(observed, "Job", COMPLETE))
    assert done["status"]["phase"] == "Succeeded"
    assert "resyncAfterSeconds" not in done
    assert "resyncAfterSeconds" not in sync({**parent, "status": done["status"]}, observed, now=T0 + timedelta(days=3))


def test_waiting_for_workers_asks_to_come_back_at_the_deadline():
    parent = load_yaml(FIXTURES / "kubeflow-pi.yaml")
    parent["spec"]["launcherCreationPolicy"] = "WaitForWorkersReady"
    parent["spec"]["runPolicy"] = {"activeDeadlineSeconds": 90}
    parent, observed, first = settle(parent)
    assert "Job" not in kinds(first)
    assert sync(parent, observed, now=T0 + timedelta(seconds=30.5))["resyncAfterSeconds"] == 60
    late = sync(parent, observed, now=T0 + timedelta(seconds=90))
    assert (late["status"]["reason"], "resyncAfterSeconds" in late) == ("DeadlineExceeded", False)


def test_active_deadline_fails_the_job_and_stops_every_pod(hello):
    hello["spec"]["runPolicy"] = {"activeDeadlineSeconds": 600}
    parent, observed, first = settle(hello)
    assert kinds(first)["Job"]["spec"]["activeDeadlineSeconds"] == 600
    assert first["resyncAfterSeconds"] == 600
    running = with_status(observed, "Job", {"active": 1})
    late = sync(parent, running, now=T0 + timedelta(seconds=600))
    assert (late["status"]["phase"], late["status"]["reason"]) == ("Failed", "DeadlineExceeded")
    assert kinds(late)["Job"]["spec"]["suspend"] is True
    assert kinds(late)["StatefulSet"]["spec"]["replicas"] == 0
    stopped = with_status(running, "Job", {"active": 0})
    still = sync({**parent, "status": late["status"]}, stopped, now=T0 + timedelta(seconds=700))
    assert kinds(still)["Job"]["spec"]["suspend"] is True


def test_backoff_limit_reaches_the_launcher_job(hello):
    hello["spec"]["runPolicy"] = {"backoffLimit": 3}
    _, _, first = settle(hello)
    assert kinds(first)["Job"]["spec"]["backoffLimit"] == 3


def test_suspend_stops_all_pods_and_resume_resets_the_start_time(hello):
    parent, observed, first = settle(hello)
    assert first["status"]["startTime"] == "2026-11-28T12:00:00Z"
    parent["spec"]["runPolicy"] = {"suspend": True}
    suspended = sync(parent, observed, now=T0 + timedelta(minutes=10))
    assert suspended["status"]["phase"] == "Suspended"
    assert "startTime" not in suspended["status"]
    assert kinds(suspended)["StatefulSet"]["spec"]["replicas"] == 0
    assert kinds(suspended)["Job"]["spec"]["suspend"] is True
    condition = next(c for c in suspended["status"]["conditions"] if c["type"] == "Suspended")
    assert condition["status"] == "True"

    resumed_parent = {
        **parent,
        "spec": {**parent["spec"], "runPolicy": {"suspend": False}},
        "status": suspended["status"],
    }
    resumed = sync(resumed_parent, observed, now=T0 + timedelta(minutes=20))
    assert resumed["status"]["phase"] == "Pending"
    assert resumed["status"]["startTime"] == "2026-11-28T12:20:00Z"
    assert kinds(resumed)["StatefulSet"]["spec"]["replicas"] == 2
    assert kinds(resumed)["Job"]["spec"]["suspend"] is False


def test_a_fixed_spec_recovers_from_invalid_spec(hello):
    broken = copy.deepcopy(hello)
    broken["spec"]["replicas"] = "two"
    failed = calls.sync(hook_request(broken), now=T0)
    fixed = calls.sync(hook_request({**hello, "status": failed["status"]}), now=T0)
    assert fixed["status"]["phase"] == "Pending"
    assert len(fixed["children"]) == 5


def test_observed_generation_follows_the_parent(hello):
    hello["metadata"]["generation"] = 7
    assert calls.sync(hook_request(hello), now=T0)["status"]["observedGeneration"] == 7


def test_daemons_message_explains_a_pending_worker(hello):
    hello["spec"].update({"daemons": True, "replicas": 3})
    hello["spec"].pop("minReplicas", None)
    parent, observed, _ = settle(hello)
    observed = with_status(
        with_status(observed, "StatefulSet", {"replicas": 3, "readyReplicas": 2}), "Job", {"active": 1}
    )
    status = sync(parent, observed)["status"]
    assert status["phase"] == "Running"
    assert status["message"] == (
        "running: launcher active, 2/3 workers ready, 1 not ready; daemons: at most one worker per node, "
        "so a worker stays Pending while no free node is left"
    )
    starving = with_status(observed, "StatefulSet", {"replicas": 3, "readyReplicas": 0})
    assert "a worker stays Pending while no free node is left" in sync(parent, starving)["status"]["message"]


@pytest.mark.parametrize(
    ("api_version", "scheduler", "member_key", "where"),
    [
        ("scheduling.volcano.sh/v1beta1", "volcano", "scheduling.k8s.io/group-name", "annotations"),
        ("scheduling.x-k8s.io/v1alpha1", "scheduler-plugins-scheduler", "scheduling.x-k8s.io/pod-group", "labels"),
    ],
)
def test_gang_scheduling_follows_the_installed_child_rule(hello, api_version, scheduler, member_key, where):
    controller = {"spec": {"childResources": [{"apiVersion": api_version, "resource": "podgroups"}]}}
    children = kinds(sync(hello, [], controller=controller))
    assert children["PodGroup"] == {
        "apiVersion": api_version,
        "kind": "PodGroup",
        "metadata": {"name": "hello", "labels": {"mpifn.dev/job-name": "hello"}},
        "spec": {"minMember": 3},
    }
    for kind in ("StatefulSet", "Job"):
        template = children[kind]["spec"]["template"]
        assert template["spec"]["schedulerName"] == scheduler
        assert template["metadata"][where][member_key] == "hello"
    assert "PodGroup" not in kinds(sync(hello, []))


def test_kubeflow_pi_example_runs_unchanged():
    parent = load_yaml(FIXTURES / "kubeflow-pi.yaml")
    response = calls.sync(hook_request(parent), now=T0)
    children = kinds(response)
    assert response["status"]["phase"] == "Pending"
    worker = children["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"] == ["/usr/sbin/sshd"]
    assert worker["args"] == ["-De", "-f", "/home/mpiuser/.sshd_config"]
    assert {"name": "mpifn-ssh-auth", "mountPath": "/home/mpiuser/.ssh", "readOnly": True} in worker["volumeMounts"]
    launcher = children["Job"]["spec"]["template"]["spec"]["containers"][0]
    assert launcher["args"] == ["-n", "2", "/home/mpiuser/pi"]
    assert children["StatefulSet"]["spec"]["replicas"] == 2
    for child in response["children"]:
        validate_strict(child)


def test_kubeflow_launcher_can_wait_for_ready_workers():
    parent = load_yaml(FIXTURES / "kubeflow-pi.yaml")
    parent["spec"]["launcherCreationPolicy"] = "WaitForWorkersReady"
    first = calls.sync(hook_request(parent), now=T0)
    assert "Job" not in kinds(first)
    observed = with_status([c for c in first["children"]], "StatefulSet", {"replicas": 2, "readyReplicas": 2})
    ready = calls.sync(hook_request({**parent, "status": first["status"]}, observed), now=T0)
    assert "Job" in kinds(ready)


def test_kubeflow_errors_name_the_field():
    parent = load_yaml(FIXTURES / "kubeflow-pi.yaml")
    parent["spec"]["mpiReplicaSpecs"]["Launcher"]["replicas"] = 2
    parent["spec"]["mpiImplementation"] = "LAM"
    status = calls.sync(hook_request(parent), now=T0)["status"]
    assert status["reason"] == "InvalidSpec"
    assert status["message"] == (
        'invalid spec: spec.mpiImplementation: must be one of OpenMPI, Intel, MPICH, got "LAM"; '
        "spec.mpiReplicaSpecs.Launcher.replicas: must be <= 1, got 2"
    )


@pytest.mark.parametrize("name", ["seed-replicas-original-api.yaml", "seed-daemons-original-api.yaml"])
def test_seed_api_examples_run_unchanged(name):
    parent = load_yaml(FIXTURES / name)
    response = calls.sync(hook_request(parent), now=T0)
    assert response["status"]["phase"] == "Pending"
    assert kinds(response)["StatefulSet"]["spec"]["replicas"] == 3
    for child in response["children"]:
        validate_strict(child)


@pytest.mark.parametrize(
    "odd",
    ["2026-1-6T1:2:3Z", "2026-12-06T21:55:29+00:00", "2026-12-06T21:55:29.5Z", "2026-02-30T00:00:00Z",
     "\uff12\uff10\uff12\uff16-12-06T21:55:29Z", "2026-12-06", ""],
)  # fmt: skip
def test_timestamps_are_read_back_only_in_the_form_they_are_written(odd):
    moment = datetime(2026, 12, 6, 21, 55, 29, tzinfo=UTC)
    assert parse_timestamp(timestamp(moment)) == moment
    with pytest.raises(ValueError):
        parse_timestamp(odd)
