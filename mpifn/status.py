"""The MPIJob status: phase, conditions, counts and times, carried across resyncs."""

from typing import Any

from mpifn.lifecycle import FAILED, RUNNING, SUCCEEDED, SUSPENDED, Lifecycle

JsonObject = dict[str, Any]
CONDITION_TYPES = ("Created", "WorkersReady", "Running", "Succeeded", "Failed", "Suspended")


def job_status(lifecycle: Lifecycle, min_replicas: int, generation: int, previous: JsonObject, now: str) -> JsonObject:
    workers, launcher = lifecycle.workers, lifecycle.launcher
    before = _conditions_by_type(previous)
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
        "conditions": [_condition(kind, *states[kind], before, now) for kind in CONDITION_TYPES],
    }
    if lifecycle.start_time:
        status["startTime"] = lifecycle.start_time
    if lifecycle.completion_time:
        status["completionTime"] = lifecycle.completion_time
    return status


def invalid_spec_status(problems: list[str], generation: int, previous: JsonObject, now: str) -> JsonObject:
    message = "invalid spec: " + "; ".join(problems)
    before = _conditions_by_type(previous)
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
                    before,
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


def _conditions_by_type(previous: JsonObject) -> dict[str, JsonObject]:
    """The previous status's conditions by type; the first of a type counts."""
    found: dict[str, JsonObject] = {}
    for condition in reversed(previous.get("conditions") or []):
        kind = condition.get("type")
        if isinstance(kind, str):
            found[kind] = condition
    return found


def _condition(kind: str, true: bool, reason: str, message: str, before: dict[str, JsonObject], now: str) -> JsonObject:
    status = "True" if true else "False"
    old = before.get(kind)
    since = old.get("lastTransitionTime", now) if old and old.get("status") == status else now
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": since}
