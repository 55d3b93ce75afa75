"""Reading a job's pods only while its children say something is wrong.

The MPIJob controller watches no pods. Metacontroller matches every event of every pod it
watches against the related-object rules of EVERY parent of the controller that asked for
pods, so pods asked for by the MPIJob controller would cost jobs x pod events. Instead sync
asks for one more child, an MPIJobExplanation, while a job is stuck (its workers or launcher
made no progress for `explain_after_seconds`) or has failed and its pods have not told why
yet. The explain controller, whose parents are only those few objects, asks for that job's
pods (`customize`), keeps those that tell something in the explanation's status (`sync`),
and sync reads them back like any child's status (mpifn.pods.read_explanation).

Pure: the time comes in as an argument."""

import math
from datetime import datetime
from typing import Any

from mpifn import api, naming, pods
from mpifn.errors import RequestError
from mpifn.lifecycle import FAILED, PENDING, RUNNING, Lifecycle
from mpifn.observed import parse_timestamp
from mpifn.settings import Settings

JsonObject = dict[str, Any]

# The MPIJob controllers that may ask for explanations carry this label (value "explain");
# the explain controller carries it with value "customize". The Component no-pod-status
# removes both: no explanation is asked for, and no pod is ever watched.
POD_STATUS_LABEL = "mpifn.dev/pod-status"
ASKS_FOR_EXPLANATIONS = "explain"
READS_PODS = "customize"


def is_explanation(parent: JsonObject) -> bool:
    return parent.get("kind") == api.EXPLANATION_KIND


def enabled(controller: Any) -> bool:
    """Whether the MPIJob controller of this request may ask for explanations."""
    metadata = controller.get("metadata") if isinstance(controller, dict) else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return isinstance(labels, dict) and labels.get(POD_STATUS_LABEL) == ASKS_FOR_EXPLANATIONS


def stuck(lifecycle: Lifecycle) -> bool:
    workers = lifecycle.workers
    return lifecycle.phase == PENDING or (lifecycle.phase == RUNNING and workers.ready < workers.desired)


def progress_time(lifecycle: Lifecycle, previous: JsonObject, now: str) -> str:
    """When the workers or the launcher last changed (created, ready, started, ended): the
    previous status's time while the counts it shows are still the same, else now."""
    before = previous.get("progressTime")
    shown_workers = previous.get("workers")
    shown_launcher = previous.get("launcher")
    if not (isinstance(before, str) and isinstance(shown_workers, dict) and isinstance(shown_launcher, dict)):
        return now
    same = (
        shown_workers.get("current") == lifecycle.workers.current
        and shown_workers.get("ready") == lifecycle.workers.ready
        and shown_launcher.get("state") == lifecycle.launcher.state
        and shown_launcher.get("active") == lifecycle.launcher.active
    )
    try:
        parse_timestamp(before)
    except ValueError:
        return now
    return before if same else now


def wanted(
    lifecycle: Lifecycle,
    status: JsonObject,
    previous: JsonObject,
    observed: JsonObject | None,
    now: datetime,
    settings: Settings,
    children_pending: bool,
) -> tuple[bool, int | None]:
    """(whether the job's explanation should exist, seconds until it may, if it may later).

    `status` is the one this sync writes (its progressTime), `previous` the observed one,
    `observed` the explanation that exists, `children_pending` whether a child asked for
    does not exist yet.

    Metacontroller keeps the earliest resync asked for a job and cannot take one back, so a
    timer is a sync of the job whatever happened meanwhile. None is asked for while a change
    of the children is certain to sync the job anyway (a child still to be created, the
    StatefulSet's status behind its spec): the clock is read again then."""
    if lifecycle.phase == FAILED:
        # Until a status of the failed job shows what its pods said (status.pods).
        told = previous.get("phase") == FAILED and isinstance(previous.get("pods"), dict)
        return not told, None
    if not stuck(lifecycle):
        return False, None
    if observed is not None:
        return True, None
    since = parse_timestamp(status["progressTime"])
    left = math.ceil(since.timestamp() + settings.explain_after_seconds - now.timestamp())
    if left <= 0:
        return True, None
    return False, None if children_pending or lifecycle.workers.behind else left


def customize(parent: JsonObject) -> JsonObject:
    """The explain controller's customize answer: the job's launcher pods, and its worker
    pods when the explanation asks for them, in its namespace."""
    namespace, job, workers = _target(parent)
    roles = [api.ROLE_LAUNCHER, *([api.ROLE_WORKER] if workers else [])]
    return {
        "relatedResources": [
            {
                "apiVersion": "v1",
                "resource": "pods",
                "namespace": namespace,
                "labelSelector": {"matchLabels": naming.role_labels(job, role)},
            }
            for role in roles
        ]
    }


def sync(parent: JsonObject, related: Any) -> JsonObject:
    """The explain controller's sync answer: no children; the telling pods as status."""
    namespace, job, _ = _target(parent)
    return {"status": pods.telling_pods(related, namespace, job), "children": []}


def _target(parent: JsonObject) -> tuple[str, str, bool]:
    namespace = parent["metadata"].get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise RequestError(f"parent.metadata.namespace: required (an {api.EXPLANATION_KIND} is namespaced)")
    spec = parent.get("spec")
    job = spec.get("job") if isinstance(spec, dict) else None
    if not isinstance(job, str) or not job:
        raise RequestError(f"parent.spec.job: must name the MPIJob whose pods to read, got {job!r}")
    workers = spec.get("workerPods", False) if isinstance(spec, dict) else False
    if not isinstance(workers, bool):
        raise RequestError(f"parent.spec.workerPods: must be true or false, got {workers!r}")
    return namespace, job, workers
