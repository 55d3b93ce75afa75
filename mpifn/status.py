"""The MPIJob status: phase, conditions, counts and times, carried across resyncs."""

from typing import Any

from mpifn.lifecycle import FAILED, RUNNING, SUCCEEDED, SUSPENDED, Lifecycle

JsonObject = dict[str, Any]
CONDITION_TYPES = ("Created", "WorkersReady", "Running", "Succeeded", "Failed", "Suspended")


def job_status(lifecycle: Lifecycle, min_replicas: int, generation: int, previous: JsonObject, now: str) -> JsonObject:
    workers, launcher = lifecycle.workers, lifecycle.launcher
    workers_ready = workers.desired > 0 and workers.ready >= min_replicas
    states = {
        "Created": (
            True,
            "ChildrenRequested",
            "worker Service, StatefulSet, Secret, ConfigMap and launcher Job requested",
        ),
        "WorkersReady": (
            workers_ready,
            "WorkersReady" if workers_ready else "WorkersNotReady",
            f"{workers.ready}/{workers.desired} workers ready, {min_replicas} needed",
        ),
        "Running": (
            lifecycle.phase == RUNNING,
            lifecycle.reason if lifecycle.phase == RUNNING else "NotRunning",
            lifecycle.message if lifecycle.phase == RUNNING else "",
        ),
        "Succeeded": _phase_state(lifecycle, SUCCEEDED),
        "Failed": _phase_state(lifecycle, FAILED),
        "Suspended": _phase_state(lifecycle, SUSPENDED),
    }
    status: JsonObject = {
        "phase": lifecycle.phase,
        "reason": lifecycle.reason,
        "message": lifecycle.message,
        "observedGeneration": generation,
        "workers": {"desired": workers.desired, "current": workers.current, "ready": workers.ready},
        "launcher": {
            "state": launcher.state,
            "reason": launcher.reason,
            "active": launcher.active,
            "succeeded": launcher.succeeded,
            "failed": launcher.failed,
        },
        "conditions": [_condition(kind, *states[kind], previous, now) for kind in CONDITION_TYPES],
    }
    if lifecycle.start_time:
        status["startTime"] = lifecycle.start_time
    if lifecycle.completion_time:
        status["completionTime"] = lifecycle.completion_time
    return status


def invalid_spec_status(problems: list[str], generation: int, previous: JsonObject, now: str) -> JsonObject:
    message = "invalid spec: " + "; ".join(problems)
    status: JsonObject = {key: previous[key] for key in ("workers", "launcher", "startTime") if key in previous}
    status.update(
        {
            "phase": FAILED,
            "reason": "InvalidSpec",
            "message": message,
            "observedGeneration": generation,
            "conditions": [
                _condition(
                    kind,
                    kind == "Failed",
                    "InvalidSpec" if kind == "Failed" else "NotApplicable",
                    message if kind == "Failed" else "",
                    previous,
                    now,
                )
                for kind in CONDITION_TYPES
            ],
        }
    )
    return status


def _phase_state(lifecycle: Lifecycle, phase: str) -> tuple[bool, str, str]:
    if lifecycle.phase == phase:
        return True, lifecycle.reason, lifecycle.message
    return False, f"Not{phase}", ""


def _condition(kind: str, true: bool, reason: str, message: str, previous: JsonObject, now: str) -> JsonObject:
    status = "True" if true else "False"
    before = next((c for c in previous.get("conditions") or [] if c.get("type") == kind), None)
    since = before.get("lastTransitionTime", now) if before and before.get("status") == status else now
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": since}
