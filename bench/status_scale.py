"""Issue 15 item 3, as issue 21 left it: the explain controller's sync request for a job's
pods.

The explain controller's customize hook decides which pods Metacontroller adds under
`related` for a job's MPIJobExplanation: the launcher pod always, the worker pods only up
to MPIFN_STATUS_MAX_WORKER_PODS workers. Here the explanation of bench/jobs.py's job gets
exactly the pods that hook asks for (stored as the API server sends them, managedFields
included), and sync runs on it in process: decode, keep the telling pods, encode, as the
function does; "status" is the explanation's status it writes."""

import copy
import json
import statistics
import time
from typing import Any

from bench import jobs
from bench.measure import row, sync_call
from mpifn.children.explanation import job_explanation
from mpifn.settings import Settings
from mpifn.spec import parse_job
from testkit import calls
from testkit import pods as shapes

SIZES = (64, 1024, 4096)
REQUEST_LIMIT = 1_000_000  # bytes
SYNC_LIMIT_MS = 10.0

# What the API server keeps per writer of a pod (kube-controller-manager creates it, the
# scheduler binds it, the kubelet writes its status); Metacontroller sends them along.
_MANAGED_FIELDS = [
    {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "v1",
        "time": shapes.T,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {
                "f:generateName": {},
                "f:labels": {
                    ".": {},
                    "f:apps.kubernetes.io/pod-index": {},
                    "f:controller-revision-hash": {},
                    "f:mpifn.dev/job-name": {},
                    "f:mpifn.dev/role": {},
                    "f:statefulset.kubernetes.io/pod-name": {},
                },
                "f:ownerReferences": {".": {}, 'k:{"uid":"uid-owner"}': {}},
            },
            "f:spec": {
                "f:containers": {
                    'k:{"name":"mpi"}': {
                        ".": {},
                        "f:command": {},
                        "f:env": {},
                        "f:image": {},
                        "f:imagePullPolicy": {},
                        "f:name": {},
                        "f:ports": {},
                        "f:readinessProbe": {},
                        "f:resources": {},
                        "f:securityContext": {},
                        "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {},
                        "f:volumeMounts": {},
                    }
                },
                "f:dnsPolicy": {},
                "f:enableServiceLinks": {},
                "f:hostname": {},
                "f:restartPolicy": {},
                "f:schedulerName": {},
                "f:securityContext": {},
                "f:subdomain": {},
                "f:terminationGracePeriodSeconds": {},
                "f:volumes": {},
            },
        },
    },
    {
        "manager": "kube-scheduler",
        "operation": "Update",
        "apiVersion": "v1",
        "time": shapes.T,
        "fieldsType": "FieldsV1",
        "subresource": "status",
        "fieldsV1": {
            "f:status": {
                "f:conditions": {
                    ".": {},
                    'k:{"type":"PodScheduled"}': {
                        ".": {},
                        "f:lastProbeTime": {},
                        "f:lastTransitionTime": {},
                        "f:status": {},
                        "f:type": {},
                    },
                }
            }
        },
    },
    {
        "manager": "kubelet",
        "operation": "Update",
        "apiVersion": "v1",
        "time": shapes.LATER,
        "fieldsType": "FieldsV1",
        "subresource": "status",
        "fieldsV1": {
            "f:status": {
                "f:conditions": {
                    'k:{"type":"ContainersReady"}': {
                        ".": {},
                        "f:lastProbeTime": {},
                        "f:lastTransitionTime": {},
                        "f:status": {},
                        "f:type": {},
                    },
                    'k:{"type":"Initialized"}': {
                        ".": {},
                        "f:lastProbeTime": {},
                        "f:lastTransitionTime": {},
                        "f:status": {},
                        "f:type": {},
                    },
                    'k:{"type":"PodReadyToStartContainers"}': {
                        ".": {},
                        "f:lastProbeTime": {},
                        "f:lastTransitionTime": {},
                        "f:status": {},
                        "f:type": {},
                    },
                    'k:{"type":"Ready"}': {
                        ".": {},
                        "f:lastProbeTime": {},
                        "f:lastTransitionTime": {},
                        "f:status": {},
                        "f:type": {},
                    },
                },
                "f:containerStatuses": {},
                "f:hostIP": {},
                "f:hostIPs": {},
                "f:phase": {},
                "f:podIP": {},
                "f:podIPs": {".": {}, 'k:{"ip":"10.244.0.7"}': {".": {}, "f:ip": {}}},
                "f:startTime": {},
            }
        },
    },
]


def stored(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod as the API server sends it, with its managedFields."""
    return {**pod, "metadata": {**pod["metadata"], "managedFields": copy.deepcopy(_MANAGED_FIELDS)}}


def asked_for(rules: list[dict[str, Any]], pod: dict[str, Any]) -> bool:
    """Whether one of the customize hook's rules (labelSelector matchLabels) selects `pod`."""
    labels = pod["metadata"]["labels"]
    return any(
        pod["metadata"]["namespace"] == rule["namespace"]
        and all(labels.get(key) == value for key, value in rule["labelSelector"]["matchLabels"].items())
        for rule in rules
    )


def request_with_pods(replicas: int, settings: Settings) -> tuple[dict[str, Any], int]:
    """The explain controller's sync request for the steady job's explanation, carrying the
    pods its customize hook asks for; (request, pods)."""
    steady = jobs.steady_request(replicas, settings)
    explanation = job_explanation(parse_job(steady["parent"], settings), settings)
    explanation["metadata"]["namespace"] = steady["parent"]["metadata"]["namespace"]
    request: dict[str, Any] = {"controller": {}, "parent": explanation, "children": {}}
    rules = calls.customize({"controller": {}, "parent": explanation})["relatedResources"]
    desired = [child for rule in steady["children"].values() for child in rule.values()]
    worker = stored(shapes.pod_of(desired, "worker", "bench-worker-0"))
    launcher = stored(
        shapes.launcher_running(
            shapes.pod_of(desired, "launcher", "bench-launcher-x7k2p"), "mpifn-init: ok: all workers reachable\n"
        )
    )
    candidates = [launcher]
    for index in range(replicas):
        pod = copy.deepcopy(worker)
        pod["metadata"]["name"] = f"bench-worker-{index}"
        pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = pod["metadata"]["name"]
        candidates.append(pod)
    chosen = [pod for pod in candidates if asked_for(rules, pod)]
    request["related"] = shapes.related(chosen) if rules else {}
    return request, len(chosen)


def sync_milliseconds(body: bytes, rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        sync_call(body)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def measure(quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each size with the shipped limit, and with every worker pod asked for (what the
    limit saves); a request over MPIFN_MAX_BODY_BYTES is only weighed (sync refuses it)."""
    rounds = 20 if quick else 60
    shipped = Settings()
    every_pod = Settings(status_max_worker_pods=max(SIZES))
    rows, detail = [], {}
    for replicas in SIZES:
        for label, settings in (("shipped", shipped), ("every worker pod", every_pod)):
            request, pods = request_with_pods(replicas, settings)
            body = json.dumps(request, separators=(",", ":")).encode()
            judged = label == "shipped" and replicas == 4096
            measure = f"{replicas} workers, {label} ({pods} pods)"
            size_ok = len(body) < REQUEST_LIMIT if judged else None
            rows.append(
                row("15.3 status", f"{measure}: request", len(body) / 1000, "KB", "< 1000" if judged else "", size_ok)
            )
            entry: dict[str, Any] = {"request_bytes": len(body), "pods": pods}
            if len(body) <= shipped.max_body_bytes:
                took = sync_milliseconds(body, rounds if replicas < 4096 else max(5, rounds // 4))
                entry["sync_ms"] = took
                entry["status_bytes"] = len(json.dumps(json.loads(sync_call(body))["status"]))
                rows.append(
                    row(
                        "15.3 status",
                        f"{measure}: sync in process (median)",
                        took,
                        "ms",
                        "< 10" if judged else "",
                        took < SYNC_LIMIT_MS if judged else None,
                    )
                )
            detail[f"{replicas}/{label}"] = entry
    return rows, {"max_worker_pods": shipped.status_max_worker_pods, "sizes": detail}
