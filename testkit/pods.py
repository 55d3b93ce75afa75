"""Pods of a job as the API server holds them, in the states the scheduler and the
kubelet really write (field for field as `kubectl get pod -o json` shows them), for
requests whose `related` carries them as Metacontroller sends them, and the MPIJobExplanation
the explain controller makes of them."""

import copy
from typing import Any

from mpifn.children.explanation import job_explanation
from mpifn.settings import Settings
from mpifn.spec import parse_job
from testkit import calls

JsonObject = dict[str, Any]
T = "2026-11-28T12:00:00Z"
LATER = "2026-11-28T12:00:07Z"

ANTI_AFFINITY = (
    "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. preemption: 0/2 nodes are "
    "available: 2 No preemption victims found for incoming pod."
)
INSUFFICIENT_CPU = (
    "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
    "2 No preemption victims found for incoming pod."
)
MISSING_WORKER = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
    'failed: unable to start container process: exec: "/usr/local/bin/mpifn-worker": stat '
    "/usr/local/bin/mpifn-worker: no such file or directory: unknown"
)


def pod_of(children: list[JsonObject], role: str, name: str, namespace: str = "default") -> JsonObject:
    """A pod made from the StatefulSet's (worker) or the launcher Job's template, scheduled."""
    owner = next(c for c in children if c["kind"] == ("StatefulSet" if role == "worker" else "Job"))
    template = copy.deepcopy(owner["spec"]["template"])
    metadata = template.get("metadata") or {}
    labels = dict(metadata.get("labels") or {})
    if role == "worker":
        labels.update(
            {
                "controller-revision-hash": f"{owner['metadata']['name']}-5d8f7c9b4",
                "apps.kubernetes.io/pod-index": name.rsplit("-", 1)[1],
                "statefulset.kubernetes.io/pod-name": name,
            }
        )
    else:
        labels.update(
            {"batch.kubernetes.io/job-name": owner["metadata"]["name"], "job-name": owner["metadata"]["name"]}
        )
    spec = template["spec"]
    for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", "IfNotPresent")
    spec.update({"nodeName": "node-0", "schedulerName": spec.get("schedulerName", "default-scheduler")})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "resourceVersion": "4711",
            "creationTimestamp": T,
            "labels": labels,
            "annotations": metadata.get("annotations") or {},
            "ownerReferences": [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": "uid-owner",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
        "status": running(spec)["status"],
    }


def _container_status(
    container: JsonObject, state: JsonObject, ready: bool, last: JsonObject | None = None, restarts: int = 0
) -> JsonObject:
    status = {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": ready,
        "restartCount": restarts,
        "started": "running" in state,
        "state": state,
        "lastState": last or {},
    }
    if "running" in state or "terminated" in state:
        status["containerID"] = f"containerd://{container['name']}0123456789abcdef"
    return status


def _conditions(ready: bool, initialized: bool = True) -> list[JsonObject]:
    flag = "True" if ready else "False"
    conditions = [
        {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": None, "lastTransitionTime": T},
        {
            "type": "Initialized",
            "status": "True" if initialized else "False",
            "lastProbeTime": None,
            "lastTransitionTime": T,
        },
        {"type": "Ready", "status": flag, "lastProbeTime": None, "lastTransitionTime": T},
        {"type": "ContainersReady", "status": flag, "lastProbeTime": None, "lastTransitionTime": T},
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": T},
    ]
    if not ready:
        for condition in conditions[2:4]:
            condition.update({"reason": "ContainersNotReady", "message": "containers with unready status: [worker]"})
    return conditions


def _status(spec: JsonObject, phase: str, main_state: JsonObject, ready: bool, **extra: Any) -> JsonObject:
    containers = spec["containers"]
    status = {
        "phase": phase,
        "conditions": _conditions(ready),
        "hostIP": "10.0.0.2",
        "hostIPs": [{"ip": "10.0.0.2"}],
        "podIP": "10.244.0.7",
        "podIPs": [{"ip": "10.244.0.7"}],
        "startTime": T,
        "qosClass": "BestEffort",
        "containerStatuses": [
            _container_status(containers[0], main_state, ready, extra.pop("last", None), extra.pop("restarts", 0)),
            *(_container_status(c, {"running": {"startedAt": T}}, True) for c in containers[1:]),
        ],
    }
    if spec.get("initContainers"):
        done = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": T, "finishedAt": T}}
        status["initContainerStatuses"] = [
            _container_status(c, copy.deepcopy(done), True) for c in spec["initContainers"]
        ]
    status.update(extra)
    return status


def with_status(pod: JsonObject, status: JsonObject) -> JsonObject:
    return {**pod, "status": status}


def running(spec: JsonObject) -> JsonObject:
    return {"status": _status(spec, "Running", {"running": {"startedAt": T}}, True)}


def unschedulable(pod: JsonObject, message: str) -> JsonObject:
    """What kube-scheduler writes: no node, PodScheduled False with its own message."""
    spec = {key: value for key, value in pod["spec"].items() if key != "nodeName"}
    status = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": T,
            },
        ],
        "qosClass": "BestEffort",
    }
    return {**pod, "spec": spec, "status": status}


def image_pull(pod: JsonObject, reason: str = "ImagePullBackOff") -> JsonObject:
    image = pod["spec"]["containers"][0]["image"]
    message = (
        f'Back-off pulling image "{image}"'
        if reason == "ImagePullBackOff"
        else f'failed to pull and unpack image "docker.io/{image}": failed to resolve reference '
        f'"docker.io/{image}": docker.io/{image}: not found'
    )
    state = {"waiting": {"reason": reason, "message": message}}
    return with_status(pod, _status(pod["spec"], "Pending", state, False))


def crash_loop(pod: JsonObject, exit_code: int = 1, reason: str = "Error", message: str = "") -> JsonObject:
    """A restarting container between two attempts: waiting in back-off, the last run terminated."""
    name = pod["metadata"]["name"]
    state = {
        "waiting": {
            "reason": "CrashLoopBackOff",
            "message": f"back-off 20s restarting failed container=worker pod={name}_default(uid-{name})",
        }
    }
    last = {
        "terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": T,
            "finishedAt": LATER,
            "containerID": "containerd://0123",
        }
    }
    if message:
        last["terminated"]["message"] = message
    return with_status(pod, _status(pod["spec"], "Running", state, False, last=last, restarts=3))


def oom_restarted(pod: JsonObject) -> JsonObject:
    """A worker killed by the kernel for its memory limit, running again."""
    last = {
        "terminated": {
            "exitCode": 137,
            "reason": "OOMKilled",
            "startedAt": T,
            "finishedAt": LATER,
            "containerID": "containerd://0123",
        }
    }
    return with_status(
        pod, _status(pod["spec"], "Running", {"running": {"startedAt": LATER}}, True, last=last, restarts=1)
    )


def launcher_init_failed(pod: JsonObject, message: str, exit_code: int = 1) -> JsonObject:
    """restartPolicy Never: the init container ended with its termination message, the pod failed."""
    status = _status(pod["spec"], "Failed", {"waiting": {"reason": "PodInitializing"}}, False)
    status["initContainerStatuses"][0]["state"] = {
        "terminated": {
            "exitCode": exit_code,
            "reason": "Error",
            "message": message,
            "startedAt": T,
            "finishedAt": LATER,
            "containerID": "containerd://0123",
        }
    }
    status["initContainerStatuses"][0]["ready"] = False
    return with_status(pod, status)


def launcher_ended(
    pod: JsonObject, exit_code: int, reason: str = "Error", log_tail: str = "", ok_verdict: str = ""
) -> JsonObject:
    """The main container terminated; with FallbackToLogsOnError its last log lines are the message."""
    terminated: JsonObject = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": T,
        "finishedAt": LATER,
        "containerID": "containerd://0123",
    }
    if log_tail:
        terminated["message"] = log_tail
    status = _status(pod["spec"], "Succeeded" if exit_code == 0 else "Failed", {"terminated": terminated}, False)
    if ok_verdict:
        status["initContainerStatuses"][0]["state"]["terminated"]["message"] = ok_verdict
    return with_status(pod, status)


def launcher_running(pod: JsonObject, ok_verdict: str) -> JsonObject:
    status = _status(pod["spec"], "Running", {"running": {"startedAt": T}}, True)
    status["initContainerStatuses"][0]["state"]["terminated"]["message"] = ok_verdict
    return with_status(pod, status)


def related(pods: list[JsonObject]) -> JsonObject:
    """The `related` of a v2 request: every pod keyed namespace/name under Pod.v1."""
    return {"Pod.v1": {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p for p in pods}}


def explanation_with(job: JsonObject, pods: list[JsonObject]) -> JsonObject:
    """The job's MPIJobExplanation as the explain controller leaves it after reading `pods`
    (its sync hook's status), observed as a child of the job."""
    namespace = job["metadata"].get("namespace", "default")
    parent = job_explanation(parse_job(job, Settings()), Settings())
    parent["metadata"]["namespace"] = namespace
    answer = calls.sync({"controller": {}, "parent": parent, "children": {}, "related": related(pods)})
    return {**parent, "status": answer["status"]}
