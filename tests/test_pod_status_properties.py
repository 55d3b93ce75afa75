"""Property: for any mix of pod states, the status stays under a fixed size and sync
stays a fixed point (the same pods give the same status bytes, in any order)."""

import copy
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from testkit import calls
from testkit import pods as shapes
from testkit.metacontroller import as_observed, hook_request, with_status
from tests.support.hypothesis_profiles import for_properties
from tests.test_properties import LAUNCHER_STATUSES

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
STATUS_BOUND = 16_000  # bytes of JSON, whatever the pods say and however many there are
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3000)
REASONS = st.sampled_from(["Error", "OOMKilled", "StartError", "ContainerCannotRun", "Completed", ""])
PROBE_REASONS = st.sampled_from(["refused", "timeout", "not-ssh", "no-dns", "error"])


def _hello(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "mpifn.dev/v1",
        "kind": "MPIJob",
        "metadata": {"name": "hello", "namespace": "default", "generation": 1, "uid": "uid-hello"},
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "mpi",
                            "image": "mpifn/mpibase:0.1.0",
                            "command": ["mpirun"],
                            "resources": {"limits": {"memory": "1Gi"}},
                        }
                    ]
                }
            },
        },
    }


@st.composite
def worker_states(draw: st.DrawFn, pod: dict[str, Any]) -> dict[str, Any]:
    kind = draw(st.sampled_from(["running", "unschedulable", "pull", "crash", "oom", "missing", "gone", "odd"]))
    if kind == "unschedulable":
        return shapes.unschedulable(pod, draw(TEXT))
    if kind == "pull":
        return shapes.image_pull(pod, draw(st.sampled_from(["ErrImagePull", "ImagePullBackOff", "InvalidImageName"])))
    if kind == "crash":
        return shapes.crash_loop(pod, draw(st.integers(-(2**31), 2**31 - 1)), draw(REASONS), draw(TEXT))
    if kind == "oom":
        return shapes.oom_restarted(pod)
    if kind == "missing":
        return shapes.crash_loop(pod, 128, "StartError", shapes.MISSING_WORKER)
    if kind == "gone":
        return {**pod, "metadata": {**pod["metadata"], "deletionTimestamp": shapes.LATER}}
    if kind == "odd":
        waiting = {"waiting": {"reason": draw(st.text(max_size=40)), "message": draw(TEXT)}}
        status = copy.deepcopy(pod["status"])
        status["containerStatuses"][0]["state"] = waiting
        return {**pod, "status": status}
    return pod


@st.composite
def verdicts(draw: st.DrawFn) -> str:
    outcome = draw(st.sampled_from(["ok", "too-few-workers", "probe-failed", "config-error", "garbage"]))
    lines = [f"mpifn-init: {outcome}: {draw(st.text(max_size=300))}"]
    for index in draw(st.lists(st.integers(0, 5000), max_size=20)):
        host = f"hello-worker-{index}.hello-worker.default.svc"
        lines.append(f"unreachable {host}: {draw(PROBE_REASONS)} ({draw(st.text(max_size=200))})")
    if draw(st.booleans()):
        lines.append(f"and {draw(st.integers(0, 5000))} more unreachable")
    return "\n".join(lines) + "\n"


@st.composite
def launcher_states(draw: st.DrawFn, pod: dict[str, Any]) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(["none", "running", "init-failed", "ended", "unschedulable"]))
    if kind == "running":
        return shapes.launcher_running(pod, draw(verdicts()))
    if kind == "init-failed":
        return shapes.launcher_init_failed(pod, draw(st.one_of(verdicts(), TEXT)), draw(st.integers(1, 255)))
    if kind == "ended":
        return shapes.launcher_ended(pod, draw(st.integers(0, 255)), draw(REASONS), draw(TEXT), draw(verdicts()))
    if kind == "unschedulable":
        return shapes.unschedulable(pod, draw(TEXT))
    return None


@st.composite
def jobs_with_pods(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    replicas = draw(st.integers(1, 40))
    parent = _hello(replicas)
    first = calls.sync(hook_request(parent), now=T0)
    ready = draw(st.integers(0, replicas))
    children = with_status(
        as_observed(first["children"]), "StatefulSet", {"replicas": replicas, "readyReplicas": ready}
    )
    children = with_status(children, "Job", draw(st.sampled_from(LAUNCHER_STATUSES)))
    template = shapes.pod_of(first["children"], "worker", "hello-worker-0")
    pods = []
    for index in draw(st.sets(st.integers(0, replicas - 1))):
        pod = copy.deepcopy(template)
        pod["metadata"]["name"] = f"hello-worker-{index}"
        pods.append(draw(worker_states(pod)))
    launcher = draw(launcher_states(shapes.pod_of(first["children"], "launcher", "hello-launcher-x7k2p")))
    if launcher is not None:
        pods.append(launcher)
    return {**parent, "status": first["status"]}, children, pods


@for_properties(share=0.25)
@given(case=jobs_with_pods(), order=st.randoms(use_true_random=False))
def test_any_mix_of_pod_states_gives_a_small_status_and_a_fixed_point(case, order):
    parent, children, pods = case
    statuses = [calls.sync(hook_request(parent, children, related=shapes.related(pods)), now=T0)["status"]]
    for _ in range(3):
        shuffled = list(pods)
        order.shuffle(shuffled)
        request = hook_request({**parent, "status": statuses[-1]}, children, related=shapes.related(shuffled))
        statuses.append(calls.sync(request, now=T0)["status"])
        if statuses[-1] == statuses[-2]:
            break
    assert statuses[-1] == statuses[-2], "no fixed point after the status was fed back"
    final = json.dumps(statuses[-1], sort_keys=True)
    assert len(final.encode()) < STATUS_BOUND, len(final.encode())
    assert len(statuses[-1].get("pods", {}).get("details", [])) <= 11
