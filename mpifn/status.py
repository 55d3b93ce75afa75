"""The MPIJob status: phase, conditions, counts and times, carried across resyncs, and
why the job is stuck or failed, told from what its pods say (mpifn.pods)."""

from collections import Counter
from dataclasses import dataclass
from typing import Any

from mpifn import pods
from mpifn.explain import progress_time
from mpifn.lifecycle import FAILED, PENDING, RUNNING, SPEC_INVALID, SUCCEEDED, SUSPENDED, Lifecycle
from mpifn.pods import LauncherPod, PodReport, Problem

JsonObject = dict[str, Any]
CONDITION_TYPES = ("Created", "WorkersReady", "Running", "Succeeded", "Failed", "Suspended")
MAX_DETAILS = 10  # per-pod lines in status.pods.details: the status stays small at 4096 workers

# Reasons of a failure told from the launcher pod: once written, they are kept.
WORKERS_UNREACHABLE = "WorkersUnreachable"
PROBE_FAILED = "ProbeFailed"
LAUNCHER_INIT_FAILED = "LauncherInitFailed"
MPIRUN_FAILED = "MPIRunFailed"
_EXPLAINED_FAILURES = {WORKERS_UNREACHABLE, PROBE_FAILED, LAUNCHER_INIT_FAILED, MPIRUN_FAILED, *pods.SEVERITY}


@dataclass(frozen=True)
class Explanation:
    """The status' reason and message, and the per-pod summary (None: nothing read)."""

    reason: str
    message: str
    pods: JsonObject | None


def explain(lifecycle: Lifecycle, report: PodReport, gang: Problem | None, previous: JsonObject) -> Explanation:
    """Why the job is where it is: the lifecycle's own words, refined by its pods."""
    launcher = report.launcher
    problems = [*report.problems]
    if launcher is not None and launcher.problem is not None:
        problems.append(launcher.problem)
    if gang is not None and lifecycle.phase == PENDING:
        problems.append(gang)
    problems.sort(key=Problem.rank)
    if lifecycle.phase == FAILED:
        if previous.get("phase") == FAILED and previous.get("reason") in _EXPLAINED_FAILURES:
            return Explanation(previous["reason"], previous.get("message", ""), previous.get("pods"))
        told = _launcher_failure(launcher, problems) if lifecycle.launcher.state == "Failed" else None
        if told is not None and lifecycle.reason != "DeadlineExceeded":
            reason, message, shown = told
            return Explanation(reason, message, _summary(report.read, shown))
        # status.pods on a failed job says its pods were read once they had ended (mpifn.explain
        # stops asking then); until they have, nothing is shown.
        init_failed = launcher is not None and launcher.init is not None and launcher.init.outcome != "ok"
        ended = report.seen and (launcher is None or launcher.exit is not None or init_failed)
        before = previous.get("pods")
        carried = before if previous.get("phase") == FAILED and isinstance(before, dict) else None
        return Explanation(lifecycle.reason, lifecycle.message, _summary(report.read, problems) if ended else carried)
    if lifecycle.phase not in (PENDING, RUNNING) or not (report.seen or problems):
        return Explanation(lifecycle.reason, lifecycle.message, None)
    reason, message = lifecycle.reason, lifecycle.message
    left_out = launcher.unreachable() if launcher is not None and lifecycle.phase == RUNNING else ()
    if left_out:
        message += "; mpirun runs without " + ", ".join(f"{p.pod} ({p.detail})" for p in left_out[:3])
        message += f" and {len(left_out) - 3} more" if len(left_out) > 3 else ""
    if problems:
        reason = problems[0].reason
        message += "; " + _lead(problems)
    return Explanation(reason, message, _summary(report.read, [*problems, *left_out]))


def _launcher_failure(launcher: LauncherPod | None, problems: list[Problem]) -> tuple[str, str, list[Problem]] | None:
    """(reason, message, per-pod problems) of a failed launcher, when its pod tells why."""
    if launcher is None:
        return None
    verdict, exit = launcher.init, launcher.exit
    if verdict is not None and verdict.outcome != "ok":
        if verdict.outcome == "too-few-workers":
            gone = verdict.unreachable
            named = ", ".join(f"{u.worker} {u.reason} ({u.detail})" for u in gone[:3])
            more = len(gone) - 3 + verdict.more
            message = f"mpirun never started: {verdict.summary}; no SSH from {named}"
            message += f" and {more} more" if more > 0 else ""
            fix = pods.SSH_FIXES.get(gone[0].reason, "") if gone else ""
            message += (f"; fix: {fix}" if fix else "") + _also(problems)
            return WORKERS_UNREACHABLE, message, [*launcher.unreachable(), *problems]
        if verdict.outcome == "probe-failed":
            return (
                PROBE_FAILED,
                f"the launcher's init step got no answer from the probe function: {verdict.summary}; "
                "fix: check that the probe function runs and the sync function's MPIFN_PROBE_URL",
                problems,
            )
        return LAUNCHER_INIT_FAILED, f"the launcher's init step failed: {verdict.summary}", problems
    if exit is None or exit.code == 0:
        return None
    if exit.reason == "OOMKilled":
        limit = exit.memory_limit or "none: the node ran out of memory"
        oom = Problem(
            pods.OOM_KILLED,
            launcher.name,
            f"launcher container {exit.container} was OOMKilled (memory limit {limit})",
            f"raise resources.limits.memory of container {exit.container}",
        )
        return pods.OOM_KILLED, oom.line(), [oom, *problems]
    message = f"mpirun exited with code {exit.code} ({exit.reason or 'Error'})"
    tail = f"; last lines: {exit.last_lines}" if exit.last_lines else ""
    ended = Problem(pods.CONTAINER_EXITED, launcher.name, f"container {exit.container}: {message}{tail}")
    died = next((p for p in problems if p.reason in _WORKER_DEATHS), None)
    if died is not None:
        return died.reason, f"{message} after {died.line()}{tail}", [ended, *problems]
    return MPIRUN_FAILED, message + tail + _also(problems), [ended, *problems]


_WORKER_DEATHS = (pods.OOM_KILLED, pods.CRASH_LOOP, pods.CONTAINER_EXITED)


def _lead(problems: list[Problem]) -> str:
    """The most severe problem, and how many more there are of each kind."""
    rest = Counter(p.reason for p in problems[1:])
    others = ", ".join(f"{count} {reason}" for reason, count in sorted(rest.items()))
    return problems[0].line() + (f" (and {others}: see status.pods)" if others else "")


def _also(problems: list[Problem]) -> str:
    return "; also " + _lead(problems) if problems else ""


def _summary(read: int, problems: list[Problem]) -> JsonObject:
    details = [p.line() for p in problems[:MAX_DETAILS]]
    if len(problems) > MAX_DETAILS:
        details.append(f"... and {len(problems) - MAX_DETAILS} more")
    counts = Counter(p.reason for p in problems)
    return {"read": read, "problems": dict(sorted(counts.items())), "details": details}


def job_status(
    lifecycle: Lifecycle,
    min_replicas: int,
    generation: int,
    previous: JsonObject,
    now: str,
    explanation: Explanation | None = None,
) -> JsonObject:
    told = explanation or Explanation(lifecycle.reason, lifecycle.message, None)
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
            told.reason if lifecycle.phase == RUNNING else "NotRunning",
            told.message if lifecycle.phase == RUNNING else "",
        ),
        "Succeeded": _phase_state(lifecycle.phase, told, SUCCEEDED),
        "Failed": _phase_state(lifecycle.phase, told, FAILED),
        "Suspended": _phase_state(lifecycle.phase, told, SUSPENDED),
    }
    status: JsonObject = {
        "phase": lifecycle.phase,
        "reason": told.reason,
        "message": told.message,
        "observedGeneration": generation,
        "workers": {"desired": workers.desired, "current": workers.current, "ready": workers.ready},
        "launcher": {
            "state": launcher.state,
            "reason": launcher.reason,
            "active": launcher.active,
            "succeeded": launcher.succeeded,
            "failed": launcher.failed,
        },
        "replicaStatuses": replica_statuses(lifecycle),
        "conditions": [_condition(kind, *states[kind], before, now) for kind in CONDITION_TYPES],
    }
    if lifecycle.phase in (PENDING, RUNNING):
        status["progressTime"] = progress_time(lifecycle, previous, now)
    if lifecycle.start_time:
        status["startTime"] = lifecycle.start_time
    if lifecycle.completion_time:
        status["completionTime"] = lifecycle.completion_time
    if told.pods is not None:
        status["pods"] = told.pods
    return status


def replica_statuses(lifecycle: Lifecycle) -> JsonObject:
    """Kubeflow's per-role counts, which Kueue reads (a job is active while any `active` is
    above 0), told from the launcher Job's and the worker StatefulSet's status: `active` counts
    the pods that exist and have not ended (pending, running or terminating); worker pods
    restart in place, so no worker is ever counted succeeded or failed."""
    launcher = lifecycle.launcher
    return {
        "Launcher": {"active": launcher.pods(), "succeeded": launcher.succeeded, "failed": launcher.failed},
        "Worker": {"active": lifecycle.workers.current, "succeeded": 0, "failed": 0},
    }


def invalid_spec_status(problems: list[str], generation: int, previous: JsonObject, now: str) -> JsonObject:
    """A job that ran keeps its phase, children and status, with a SpecInvalid condition;
    one that never had a valid spec fails with InvalidSpec."""
    if previous.get("phase") and previous.get("reason") != "InvalidSpec":
        message = "spec edit not applied: " + "; ".join(problems) + f"; the job stays {previous['phase']} as it was"
        kept = [c for c in previous.get("conditions") or [] if c.get("type") != SPEC_INVALID]
        condition = _condition(SPEC_INVALID, True, SPEC_INVALID, message, _conditions_by_type(previous), now)
        return {
            **previous,
            "reason": SPEC_INVALID,
            "message": message,
            "observedGeneration": generation,
            "conditions": [*kept, condition],
        }
    message = "invalid spec: " + "; ".join(problems)
    before = _conditions_by_type(previous)
    counts = ("workers", "launcher", "replicaStatuses", "startTime")
    status: JsonObject = {key: previous[key] for key in counts if key in previous}
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


def _phase_state(current: str, told: Explanation, phase: str) -> tuple[bool, str, str]:
    if current == phase:
        return True, told.reason, told.message
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
