"""Status that explains a stuck or failed job from its own pods (read by the explain
controller into the job's MPIJobExplanation): each cause names the pod, what Kubernetes
said, and the fix."""

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from mpifn import pods
from mpifn.errors import RequestError
from testkit import calls
from testkit import pods as shapes
from testkit.metacontroller import EXPLAINING_CONTROLLER, as_observed, hook_request, with_status
from tests.conftest import ROOT

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
FAILED_JOB = {
    "failed": 1,
    "conditions": [
        {
            "type": "Failed",
            "status": "True",
            "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit",
        }
    ],
}


def settled(parent, ready=0, launcher=None):
    """The job's children as observed after the first sync, with the given counts."""
    first = calls.sync(hook_request(parent), now=T0)
    replicas = parent["spec"]["replicas"]
    children = with_status(
        as_observed(first["children"]), "StatefulSet", {"replicas": replicas, "readyReplicas": ready}
    )
    if launcher is not None:
        children = with_status(children, "Job", launcher)
    return {**parent, "status": first["status"]}, children, first["children"]


def sync_with(parent, children, pod_list, now=T0):
    """The job's status once its explanation tells what `pod_list` says."""
    explanation = shapes.explanation_with(parent, pod_list)
    request = hook_request(parent, [*children, explanation], controller=EXPLAINING_CONTROLLER)
    return calls.sync(request, now=now)["status"]


def worker(desired, index, job="hello"):
    return shapes.pod_of(desired, "worker", f"{job}-worker-{index}")


def launcher(desired, job="hello"):
    return shapes.pod_of(desired, "launcher", f"{job}-launcher-x7k2p")


# --------------------------------------------------------------------------- stuck


def test_unschedulable_names_the_worker_and_quotes_the_scheduler(hello):
    parent, children, desired = settled(hello, ready=1)
    pods_now = [worker(desired, 0), shapes.unschedulable(worker(desired, 1), shapes.INSUFFICIENT_CPU)]
    status = sync_with(parent, children, pods_now)
    assert (status["phase"], status["reason"]) == ("Pending", "Unschedulable")
    line = (
        f"hello-worker-1: cannot be scheduled: {shapes.INSUFFICIENT_CPU}; "
        "fix: lower the pods' resource requests or add capacity"
    )
    assert status["message"] == (
        f"waiting for workers: 1/2 workers ready, 1 not ready (mpirun starts once 2 answer SSH); {line}"
    )
    assert status["pods"] == {"read": 2, "problems": {"Unschedulable": 1}, "details": [line]}


def test_daemons_with_fewer_nodes_than_workers_say_so(hello):
    hello["spec"].update({"daemons": True, "replicas": 3})
    parent, children, desired = settled(hello, ready=2, launcher={"active": 1})
    pods_now = [worker(desired, 0), worker(desired, 1), shapes.unschedulable(worker(desired, 2), shapes.ANTI_AFFINITY)]
    status = sync_with(parent, children, pods_now)
    assert (status["phase"], status["reason"]) == ("Running", "Unschedulable")
    assert (
        "hello-worker-2: cannot be scheduled: 0/2 nodes are available: 2 node(s) didn't match pod anti-affinity"
        in (status["message"])
    )
    assert "fix: daemons put at most one worker on a node: add nodes or lower replicas" in status["message"]
    running = next(c for c in status["conditions"] if c["type"] == "Running")
    assert (running["status"], running["reason"]) == ("True", "Unschedulable")


@pytest.mark.parametrize("kubelet_reason", ["ErrImagePull", "ImagePullBackOff"])
def test_an_image_that_cannot_be_pulled_is_named(hello, kubelet_reason):
    hello["spec"]["image"] = "mpifn/nope:9"
    parent, children, desired = settled(hello)
    pods_now = [shapes.image_pull(worker(desired, i), kubelet_reason) for i in range(2)]
    status = sync_with(parent, children, pods_now)
    assert status["reason"] == "ImagePullBackOff"
    assert (
        f'hello-worker-0: cannot pull image "mpifn/nope:9" for container mpi ({kubelet_reason}: ' in status["message"]
    )
    assert "fix: check the image name and tag, and imagePullSecrets for a private registry" in status["message"]
    assert "(and 1 ImagePullBackOff: see status.pods)" in status["message"]
    assert status["pods"]["problems"] == {"ImagePullBackOff": 2}
    assert [line.split(":")[0] for line in status["pods"]["details"]] == ["hello-worker-0", "hello-worker-1"]


def test_a_crash_loop_gives_the_last_exit_code_and_reason(hello):
    parent, children, desired = settled(hello, ready=1)
    status = sync_with(parent, children, [worker(desired, 0), shapes.crash_loop(worker(desired, 1), 2)])
    assert status["reason"] == "CrashLoopBackOff"
    assert (
        "hello-worker-1: container mpi keeps crashing (CrashLoopBackOff), last exit code 2 (Error)" in status["message"]
    )


def test_a_worker_image_without_the_worker_command_is_recognised(hello):
    hello["spec"]["image"] = "debian:bookworm-slim"
    parent, children, desired = settled(hello)
    pods_now = [shapes.crash_loop(worker(desired, i), 128, "StartError", shapes.MISSING_WORKER) for i in range(2)]
    status = sync_with(parent, children, pods_now)
    assert status["reason"] == "WorkerCommandMissing"
    assert (
        'hello-worker-0: image "debian:bookworm-slim" has no /usr/local/bin/mpifn-worker (container mpi cannot '
        "start); fix: the worker image must derive from mpibase, or set its own worker command: "
        "an executable /usr/local/bin/mpifn-worker"
    ) in status["message"]


def test_the_first_attempt_at_a_missing_worker_command_is_recognised_too(hello):
    parent, children, desired = settled(hello)
    pod = worker(desired, 0)
    pod["status"]["containerStatuses"][0].update(
        {"state": {"waiting": {"reason": "RunContainerError", "message": shapes.MISSING_WORKER}}, "ready": False}
    )
    assert sync_with(parent, children, [pod])["reason"] == "WorkerCommandMissing"


def test_an_oom_killed_worker_names_the_container_and_its_limit(hello):
    hello["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"memory": "64Mi"}}
    parent, children, desired = settled(hello, ready=2, launcher={"active": 1})
    status = sync_with(parent, children, [worker(desired, 0), shapes.oom_restarted(worker(desired, 1))])
    assert (status["phase"], status["reason"]) == ("Running", "OOMKilled")
    assert (
        "hello-worker-1: container mpi was OOMKilled (memory limit 64Mi); fix: raise resources.limits.memory "
        "of container mpi"
    ) in status["message"]


def test_a_launcher_that_cannot_start_is_explained_like_a_worker(hello):
    parent, children, desired = settled(hello, ready=2, launcher={"active": 1})
    pods_now = [
        worker(desired, 0),
        worker(desired, 1),
        shapes.unschedulable(launcher(desired), shapes.INSUFFICIENT_CPU),
    ]
    status = sync_with(parent, children, pods_now)
    assert status["reason"] == "Unschedulable"
    assert "hello-launcher-x7k2p: cannot be scheduled: 0/2 nodes" in status["message"]


def test_waiting_for_gang_scheduling_quotes_the_pod_group(hello):
    controller = {
        "spec": {"childResources": [{"apiVersion": "scheduling.volcano.sh/v1beta1", "resource": "podgroups"}]}
    }
    request = hook_request(hello)
    request["controller"] = controller
    first = calls.sync(request, now=T0)
    children = as_observed(first["children"])
    group = next(c for c in children if c["kind"] == "PodGroup")
    group["status"] = {
        "phase": "Inqueue",
        "conditions": [
            {
                "type": "Unschedulable",
                "status": "True",
                "reason": "NotEnoughResources",
                "message": "3/3 tasks in gang unschedulable: pod group is not ready, 3 Pending, 3 minAvailable",
                "transitionID": "c0ffee",
                "lastTransitionTime": "2026-11-28T12:00:01Z",
            }
        ],
    }
    pending = [shapes.unschedulable(worker(first["children"], i), "pod group is not ready") for i in range(2)]
    explanation = shapes.explanation_with(hello, pending)
    request = hook_request({**hello, "status": first["status"]}, [])
    request["controller"] = controller
    others = [c for c in children if c["kind"] != "PodGroup"]
    request["children"] = hook_request(hello, [*others, explanation])["children"]
    request["children"]["PodGroup.scheduling.volcano.sh/v1beta1"] = {"default/hello": group}
    status = calls.sync(request, now=T0)["status"]
    assert status["reason"] == "GangScheduling"
    assert status["message"].endswith(
        "PodGroup hello: waiting for gang scheduling of 3 pods together (phase Inqueue: 3/3 tasks in gang "
        "unschedulable: pod group is not ready, 3 Pending, 3 minAvailable); fix: the cluster needs room for all "
        "of them at once; lower minReplicas or free capacity (and 2 Unschedulable: see status.pods)"
    )


# --------------------------------------------------------------------------- failed


VERDICT_TOO_FEW = (
    "mpifn-init: too-few-workers: 1 of 4 workers reachable, 4 needed (after 300s)\n"
    "unreachable hello-worker-1.hello-worker.default.svc: refused (connection refused on port 2222)\n"
    "unreachable hello-worker-2.hello-worker.default.svc: timeout (no SSH banner within 5s)\n"
    "unreachable hello-worker-3.hello-worker.default.svc: not-ssh (port 2222 answered 'HTTP/1.1 400')\n"
    "and 2 more unreachable\n"
)


def test_workers_that_did_not_answer_ssh_at_launch_are_named_with_why(hello):
    hello["spec"]["replicas"] = 4
    parent, children, desired = settled(hello, ready=4, launcher=FAILED_JOB)
    pods_now = [
        *(worker(desired, i) for i in range(4)),
        shapes.launcher_init_failed(launcher(desired), VERDICT_TOO_FEW),
    ]
    status = sync_with(parent, children, pods_now)
    assert (status["phase"], status["reason"]) == ("Failed", "WorkersUnreachable")
    assert status["message"] == (
        "mpirun never started: 1 of 4 workers reachable, 4 needed (after 300s); no SSH from hello-worker-1 refused "
        "(connection refused on port 2222), hello-worker-2 timeout (no SSH banner within 5s), hello-worker-3 not-ssh "
        "(port 2222 answered 'HTTP/1.1 400') and 2 more; fix: " + pods.SSH_FIXES["refused"]
    )
    assert status["pods"]["problems"] == {"NoSSH": 3}
    assert status["pods"]["details"][0] == (
        "hello-worker-1: no SSH at launch: refused (connection refused on port 2222); fix: " + pods.SSH_FIXES["refused"]
    )
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert (failed["reason"], failed["message"]) == ("WorkersUnreachable", status["message"])


def test_no_dns_at_launch_points_at_the_worker_pods(hello):
    parent, children, desired = settled(hello, launcher=FAILED_JOB)
    verdict = (
        "mpifn-init: too-few-workers: 0 of 2 workers reachable, 2 needed (after 300s)\n"
        "unreachable hello-worker-0.hello-worker.default.svc: no-dns ([Errno -2] Name or service not known)\n"
    )
    pods_now = [shapes.image_pull(worker(desired, 0)), shapes.launcher_init_failed(launcher(desired), verdict)]
    status = sync_with(parent, children, pods_now)
    assert status["reason"] == "WorkersUnreachable"
    assert "no SSH from hello-worker-0 no-dns ([Errno -2] Name or service not known)" in status["message"]
    assert "; also hello-worker-0: cannot pull image" in status["message"]


def test_a_failed_mpirun_gives_its_exit_code_and_last_lines(hello):
    parent, children, desired = settled(hello, ready=2, launcher=FAILED_JOB)
    tail = "hello: rank 0 starting\nMPI_ABORT was invoked on rank 3\nwith errorcode 7.\n"
    pods_now = [worker(desired, 0), worker(desired, 1), shapes.launcher_ended(launcher(desired), 7, log_tail=tail)]
    status = sync_with(parent, children, pods_now)
    assert (status["phase"], status["reason"]) == ("Failed", "MPIRunFailed")
    assert status["message"] == (
        "mpirun exited with code 7 (Error); last lines: hello: rank 0 starting | MPI_ABORT was invoked on rank 3 | "
        "with errorcode 7."
    )
    assert status["pods"]["details"] == ["hello-launcher-x7k2p: container mpi: " + status["message"]]


def test_a_worker_that_died_mid_run_is_the_reason_of_the_failure(hello):
    hello["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"memory": "64Mi"}}
    parent, children, desired = settled(hello, ready=2, launcher=FAILED_JOB)
    tail = "ORTE has lost communication with a remote daemon.\n"
    pods_now = [
        worker(desired, 0),
        shapes.oom_restarted(worker(desired, 1)),
        shapes.launcher_ended(launcher(desired), 1, log_tail=tail),
    ]
    status = sync_with(parent, children, pods_now)
    assert (status["phase"], status["reason"]) == ("Failed", "OOMKilled")
    assert status["message"] == (
        "mpirun exited with code 1 (Error) after hello-worker-1: container mpi was OOMKilled (memory limit 64Mi); "
        "fix: raise resources.limits.memory of container mpi; last lines: ORTE has lost communication with a "
        "remote daemon."
    )


def test_an_oom_killed_launcher(hello):
    hello["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"memory": "32Mi"}}
    parent, children, desired = settled(hello, ready=2, launcher=FAILED_JOB)
    status = sync_with(parent, children, [shapes.launcher_ended(launcher(desired), 137, "OOMKilled")])
    assert status["reason"] == "OOMKilled"
    assert status["message"].startswith(
        "hello-launcher-x7k2p: launcher container mpi was OOMKilled (memory limit 32Mi)"
    )


def test_a_probe_that_never_answered(hello):
    parent, children, desired = settled(hello, launcher=FAILED_JOB)
    verdict = "mpifn-init: probe-failed: http://probe never answered within 300s: probe call failed: curl: (6)\n"
    status = sync_with(parent, children, [shapes.launcher_init_failed(launcher(desired), verdict)])
    assert status["reason"] == "ProbeFailed"
    assert "check that the probe function runs" in status["message"]


def test_an_init_step_that_crashed_without_a_verdict(hello):
    parent, children, desired = settled(hello, launcher=FAILED_JOB)
    pod = shapes.launcher_init_failed(launcher(desired), "sh: 1: curl: not found\n", exit_code=127)
    status = sync_with(parent, children, [pod])
    assert (status["reason"], status["message"]) == (
        "LauncherInitFailed",
        "the launcher's init step failed: sh: 1: curl: not found",
    )


def test_the_explained_failure_stays_once_the_pods_are_gone(hello):
    parent, children, desired = settled(hello, ready=2, launcher=FAILED_JOB)
    pods_now = [worker(desired, 0), shapes.launcher_ended(launcher(desired), 3, log_tail="boom\n")]
    first = sync_with(parent, children, pods_now)
    later = sync_with({**parent, "status": first}, children, [], now=T0 + timedelta(minutes=5))
    assert later == first


def test_an_unexplained_failure_is_refined_once_the_launcher_pod_shows_why(hello):
    parent, children, desired = settled(hello, ready=2, launcher=FAILED_JOB)
    early = sync_with(parent, children, [])
    assert early["reason"] == "BackoffLimitExceeded"
    told = sync_with({**parent, "status": early}, children, [shapes.launcher_ended(launcher(desired), 3)])
    assert (told["phase"], told["reason"]) == ("Failed", "MPIRunFailed")


# --------------------------------------------------------------------------- running, off, bounds


def test_a_running_job_names_the_workers_its_init_step_left_out(hello):
    hello["spec"].update({"daemons": True, "replicas": 3})
    parent, children, desired = settled(hello, ready=2, launcher={"active": 1})
    verdict = (
        "mpifn-init: ok: 2 of 3 workers reachable, 1 needed\n"
        "unreachable hello-worker-2.hello-worker.default.svc: timeout (no SSH banner within 5s)\n"
    )
    pods_now = [
        worker(desired, 0),
        worker(desired, 1),
        worker(desired, 2),
        shapes.launcher_running(launcher(desired), verdict),
    ]
    status = sync_with(parent, children, pods_now)
    assert (status["phase"], status["reason"]) == ("Running", "LauncherRunning")
    assert status["message"].endswith(
        "; mpirun runs without hello-worker-2 (no SSH at launch: timeout (no SSH banner within 5s))"
    )
    assert status["pods"]["problems"] == {"NoSSH": 1}


def test_healthy_pods_add_only_how_many_were_read(hello):
    parent, children, desired = settled(hello, ready=2, launcher={"active": 1})
    without = calls.sync(hook_request(parent, children), now=T0)["status"]
    status = sync_with(parent, children, [worker(desired, 0), worker(desired, 1), launcher(desired)])
    assert status["pods"] == {"read": 3, "problems": {}, "details": []}
    assert {k: v for k, v in status.items() if k != "pods"} == without


def test_without_an_explanation_the_status_is_told_from_the_children_alone(hello):
    parent, children, _ = settled(hello, ready=1)
    status = calls.sync(hook_request(parent, children), now=T0)["status"]
    assert "pods" not in status
    assert (status["reason"], status["message"]) == (
        "WaitingForWorkers",
        "waiting for workers: 1/2 workers ready, 1 not ready (mpirun starts once 2 answer SSH)",
    )


def test_pods_of_other_jobs_and_namespaces_are_ignored(hello):
    parent, children, desired = settled(hello, ready=1)
    other = shapes.image_pull(shapes.pod_of(desired, "worker", "hello-worker-1"))
    other["metadata"]["labels"]["mpifn.dev/job-name"] = "other"
    elsewhere = shapes.image_pull(shapes.pod_of(desired, "worker", "hello-worker-1", namespace="team-b"))
    status = sync_with(parent, children, [worker(desired, 0), other, elsewhere])
    assert status["pods"] == {"read": 1, "problems": {}, "details": []}


def test_a_4096_worker_job_keeps_a_small_explanation_and_status(hello):
    """Its explanation asks for no worker pods (above MPIFN_STATUS_MAX_WORKER_PODS); given
    them anyway, it keeps the most severe few, and the job's status stays small."""
    hello["spec"]["replicas"] = 4096
    parent, children, desired = settled(hello)
    template = worker(desired, 0)
    pods_now = []
    for index in range(4096):
        pod = copy.deepcopy(template)
        pod["metadata"]["name"] = f"hello-worker-{index}"
        pods_now.append(shapes.image_pull(pod) if index % 2 else shapes.unschedulable(pod, shapes.INSUFFICIENT_CPU))
    explanation = shapes.explanation_with(parent, pods_now)
    assert explanation["spec"]["workerPods"] is False
    assert explanation["status"]["read"] == 4096 and len(explanation["status"]["pods"]) == pods.MAX_KEPT_PODS
    status = sync_with(parent, children, pods_now)
    assert status["pods"]["read"] == 4096
    assert status["pods"]["problems"] == {"ImagePullBackOff": pods.MAX_KEPT_PODS}
    assert len(status["pods"]["details"]) == 11 and status["pods"]["details"][0].startswith("hello-worker-1: cannot")
    assert len(json.dumps(status)) < 8000


def test_the_same_pods_give_the_same_status_bytes_in_any_order(hello):
    parent, children, desired = settled(hello, launcher=FAILED_JOB)
    pods_now = [
        shapes.crash_loop(worker(desired, 1)),
        shapes.image_pull(worker(desired, 0)),
        shapes.launcher_ended(launcher(desired), 2, log_tail="x\n"),
    ]
    first = sync_with(parent, children, pods_now)
    again = sync_with({**parent, "status": first}, children, list(reversed(pods_now)), now=T0 + timedelta(hours=1))
    assert json.dumps(again, sort_keys=True) == json.dumps(first, sort_keys=True)


ODD_PODS = [
    {"default/x": "junk"},
    {
        "default/x": {
            "metadata": {
                "labels": {"mpifn.dev/job-name": "hello", "mpifn.dev/role": "worker"},
                "name": "hello-worker-0",
            },
            "status": {"containerStatuses": [None, {"state": "x"}], "conditions": "x"},
        }
    },
]


@pytest.mark.parametrize("related", [{"Pod.v1": []}, *({"Pod.v1": odd} for odd in ODD_PODS)])
def test_pods_in_shapes_no_api_server_writes_change_nothing_else(hello, related):
    parent, children, _ = settled(hello, ready=1)
    explanation = shapes.explanation_with(parent, [])
    explain_request = {"controller": {}, "parent": explanation, "children": {}, "related": related}
    told = {**explanation, "status": calls.sync(explain_request)["status"]}
    request = hook_request(parent, [*children, told], controller=EXPLAINING_CONTROLLER)
    assert calls.sync(request, now=T0)["status"]["reason"] == "WaitingForWorkers"


@pytest.mark.parametrize("kept", [None, {}, {"pods": "x"}, {"pods": ["junk", None]}, {"read": "x", "pods": []}])
def test_an_explanation_status_in_shapes_the_explain_controller_never_writes_changes_nothing_else(hello, kept):
    parent, children, _ = settled(hello, ready=1)
    odd = {**shapes.explanation_with(parent, []), "status": kept}
    request = hook_request(parent, [*children, odd], controller=EXPLAINING_CONTROLLER)
    assert calls.sync(request, now=T0)["status"]["reason"] == "WaitingForWorkers"


def test_related_that_is_not_an_object_is_a_bad_request(hello):
    request = hook_request(hello)
    request["related"] = []
    with pytest.raises(RequestError, match="related: must be an object"):
        calls.sync(request, now=T0)


def test_a_long_quoted_message_is_cut_but_the_fix_is_kept():
    line = pods.Problem("Unschedulable", "hello-worker-1", "cannot be scheduled: " + "x" * 5000, "add nodes").line()
    assert len(line) == pods.MAX_LINE and line.endswith("...; fix: add nodes")


# --------------------------------------------------------------------------- the explain controller's hooks


def test_customize_asks_for_the_launcher_and_worker_pods_in_the_jobs_namespace(hello):
    answer = calls.customize({"controller": {}, "parent": shapes.explanation_with(hello, [])})
    assert answer == {
        "relatedResources": [
            {
                "apiVersion": "v1",
                "resource": "pods",
                "namespace": "default",
                "labelSelector": {"matchLabels": {"mpifn.dev/job-name": "hello", "mpifn.dev/role": role}},
            }
            for role in ("launcher", "worker")
        ]
    }


def test_customize_asks_only_for_the_launcher_pod_when_the_explanation_says_so(hello):
    explanation = shapes.explanation_with(hello, [])
    explanation["spec"]["workerPods"] = False
    roles = [
        r["labelSelector"]["matchLabels"]["mpifn.dev/role"]
        for r in calls.customize({"parent": explanation})["relatedResources"]
    ]
    assert roles == ["launcher"]


def test_customize_asks_no_pods_for_an_mpijob(hello):
    """A controller of an older install that still has a customize hook reads no pods."""
    assert calls.customize({"controller": {}, "parent": hello}) == {"relatedResources": []}


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({}, r"parent\.spec\.job: must name the MPIJob whose pods to read, got None"),
        ({"job": 3}, r"parent\.spec\.job: must name the MPIJob whose pods to read, got 3"),
        ({"job": "hello", "workerPods": "yes"}, r"parent\.spec\.workerPods: must be true or false, got 'yes'"),
    ],
)
def test_an_explanation_without_a_job_is_a_bad_request_naming_the_field(hello, spec, error):
    explanation = {**shapes.explanation_with(hello, []), "spec": spec}
    for hook in (calls.customize, calls.sync):
        with pytest.raises(RequestError, match=error):
            hook({"controller": {}, "parent": explanation, "children": {}})


def test_customize_needs_a_namespaced_parent(hello):
    explanation = shapes.explanation_with(hello, [])
    del explanation["metadata"]["namespace"]
    with pytest.raises(RequestError, match=r"parent\.metadata\.namespace: required"):
        calls.customize({"parent": explanation})


def test_the_sync_function_serves_customize_under_its_own_url(hello, monkeypatch):
    """functions/sync/main.py as functions-framework loads it: /customize is the hook,
    any other path is sync."""
    import functions_framework

    monkeypatch.delenv("THREADS", raising=False)  # the entry point sets it: undone after the test
    client = functions_framework.create_app(target="sync", source=str(ROOT / "functions" / "sync" / "main.py"))
    client = client.test_client()
    explanation = shapes.explanation_with(hello, [])
    customize = client.post("/customize", json={"controller": {}, "parent": explanation})
    assert customize.status_code == 200
    assert customize.get_json() == calls.customize({"parent": explanation})
    synced = client.post("/", json=hook_request(hello))
    assert synced.status_code == 200 and set(synced.get_json()) == {"status", "children"}
