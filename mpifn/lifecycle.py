"""Where a job is in its life, decided from the spec, the observed children and the
previous status: what should run now, and what the status says about it."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mpifn import naming
from mpifn.model import MPIJob
from mpifn.observed import Observed, parse_timestamp

JsonObject = dict[str, Any]

PENDING, RUNNING, SUCCEEDED, FAILED, SUSPENDED = "Pending", "Running", "Succeeded", "Failed", "Suspended"
FINISHED = (SUCCEEDED, FAILED)
SPEC_INVALID = "SpecInvalid"  # an edit that cannot be applied to a job that ran
EVICTED_BY_KUEUE = "EvictedByKueue"  # a job of a Kueue queue suspended again after it was admitted


@dataclass(frozen=True)
class Launcher:
    exists: bool
    state: str  # Absent, Waiting, Active, Succeeded, Failed, Suspended
    reason: str
    message: str
    active: int
    ready: int
    succeeded: int
    failed: int
    terminating: int = 0  # pods being deleted, not counted in active (Kubernetes 1.28+)
    # The Job as it is: spec.suspend, and status.startTime (set while it runs; Kubernetes
    # clears it on suspension from 1.36 on, or never: then the Job started at some time).
    suspended: bool = False
    started: bool = False

    def pods(self) -> int:
        """Launcher pods that exist and have not ended: pending, running or terminating."""
        return self.active + self.terminating


@dataclass(frozen=True)
class Workers:
    desired: int
    current: int
    ready: int
    # The StatefulSet's controller has not yet written the status of its latest spec: it
    # will, and that change syncs the job again.
    behind: bool = False


@dataclass(frozen=True)
class Lifecycle:
    phase: str
    reason: str
    message: str
    launcher: Launcher
    workers: Workers
    run_workers: int
    keep_launcher: bool
    suspend_launcher: bool
    expired: bool
    resync_after_seconds: int | None
    start_time: str | None
    completion_time: str | None


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def read_launcher(observed: Observed, job_name: str) -> Launcher:
    child = observed.get("Job", naming.launcher_name(job_name))
    if child is None:
        return Launcher(False, "Absent", "", "", 0, 0, 0, 0)
    status = child.get("status") or {}
    spec = child.get("spec")
    counts: dict[str, Any] = {
        key: int(status.get(key) or 0) for key in ("active", "ready", "succeeded", "failed", "terminating")
    }
    counts["suspended"] = isinstance(spec, dict) and spec.get("suspend") is True
    counts["started"] = bool(status.get("startTime"))
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        kind = condition.get("type")
        if kind in ("Complete", "Failed", "Suspended"):
            state = {"Complete": "Succeeded"}.get(kind, kind)
            return Launcher(True, state, condition.get("reason", ""), condition.get("message", ""), **counts)
    return Launcher(True, "Active" if counts["active"] else "Waiting", "", "", **counts)


def read_workers(observed: Observed, job_name: str, run_workers: int) -> Workers:
    found = observed.get("StatefulSet", naming.worker_name(job_name)) or {}
    status = found.get("status") or {}
    generation = (found.get("metadata") or {}).get("generation")
    return Workers(
        desired=run_workers,
        current=int(status.get("replicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        behind=isinstance(generation, int) and status.get("observedGeneration") != generation,
    )


def decide(job: MPIJob, observed: Observed, previous: JsonObject, now: datetime) -> Lifecycle:
    launcher = read_launcher(observed, job.name)
    start_time = _start_time(job, previous, now)
    phase, reason, message = _outcome(job, launcher, previous, start_time, now)
    finished = phase in FINISHED
    clean = job.run_policy.clean_pod_policy
    run_workers = 0 if phase == SUSPENDED or (finished and clean != "None") else job.replicas
    workers = read_workers(observed, job.name, run_workers)
    if not phase:
        phase, reason, message = _progress(job, launcher, workers)

    completion_time = (previous.get("completionTime") or timestamp(now)) if finished else None
    expired = False
    # Only time itself asks for a resync, for the second it changes the answer: the end of a
    # TTL, and an active deadline (which also ends a wait for workers). Everything else (pods
    # ready, the launcher done, the job edited, launcher retries) reaches Metacontroller as a
    # change of the parent or a child, so a job without either asks for none.
    resyncs = []
    if finished and completion_time and job.run_policy.ttl_seconds_after_finished is not None:
        left = _seconds_left(completion_time, job.run_policy.ttl_seconds_after_finished, now)
        expired = left <= 0
        resyncs.append(left)
    if phase in (PENDING, RUNNING) and start_time and job.run_policy.active_deadline_seconds is not None:
        resyncs.append(_seconds_left(start_time, job.run_policy.active_deadline_seconds, now))
    waiting_for_workers = job.wait_for_workers and not launcher.exists and workers.ready < job.min_replicas

    return Lifecycle(
        phase=phase,
        reason=reason,
        message=message,
        launcher=launcher,
        workers=workers,
        run_workers=run_workers,
        keep_launcher=not (finished and clean == "All") and not expired and not waiting_for_workers,
        # A deadline stops a launcher that has not finished by itself, for good.
        suspend_launcher=phase == SUSPENDED or (phase == FAILED and launcher.state not in ("Succeeded", "Failed")),
        expired=expired,
        resync_after_seconds=min((left for left in resyncs if left > 0), default=None),
        start_time=start_time,
        completion_time=completion_time,
    )


def _start_time(job: MPIJob, previous: JsonObject, now: datetime) -> str | None:
    """When the current run began: unset while suspended, reset on resume."""
    if job.run_policy.suspend and previous.get("phase") not in FINISHED:
        return None
    if previous.get("phase") == SUSPENDED or not previous.get("startTime"):
        return timestamp(now)
    return str(previous["startTime"])


def _outcome(
    job: MPIJob, launcher: Launcher, previous: JsonObject, start_time: str | None, now: datetime
) -> tuple[str, str, str]:
    """A phase that does not depend on the workers: finished or suspended; ("", "", "") otherwise."""
    if previous.get("phase") in FINISHED and previous.get("reason") != "InvalidSpec":
        if previous.get("reason") == SPEC_INVALID:  # the edit was fixed: the end as it was told
            end: JsonObject = next(
                (c for c in previous.get("conditions") or [] if c.get("type") == previous["phase"]), {}
            )
            return previous["phase"], end.get("reason", ""), end.get("message", "")
        return previous["phase"], previous.get("reason", ""), previous.get("message", "")
    if launcher.state == "Succeeded":
        return SUCCEEDED, "LauncherSucceeded", "the launcher completed: mpirun exited 0"
    if launcher.state == "Failed":
        why = launcher.reason or "LauncherFailed"
        return FAILED, why, f"the launcher failed ({why}): {launcher.message or 'mpirun exited non-zero'}"
    if job.run_policy.suspend:
        return _suspended(job, previous)
    deadline = job.run_policy.active_deadline_seconds
    if deadline is not None and start_time and _seconds_left(start_time, deadline, now) <= 0:
        return (
            FAILED,
            "DeadlineExceeded",
            f"ran longer than runPolicy.activeDeadlineSeconds ({deadline}s) since {start_time}",
        )
    return "", "", ""


def _suspended(job: MPIJob, previous: JsonObject) -> tuple[str, str, str]:
    """Why the job is suspended, as far as the job itself tells: a job with a Kueue queue label
    waits for Kueue to admit it, or was suspended by Kueue after it was admitted (it ran, or
    was already told so); the Workload says more (the hooks read no Workload)."""
    if job.queue_name is None:
        return SUSPENDED, "Suspended", "suspended: no worker pods, launcher Job suspended"
    workloads = f"`kubectl get workloads -n {job.namespace}`"
    before = previous.get("phase"), previous.get("reason")
    if before[0] in (PENDING, RUNNING) or before == (SUSPENDED, EVICTED_BY_KUEUE):
        return (
            SUSPENDED,
            EVICTED_BY_KUEUE,
            f"suspended after Kueue admitted it (queue {job.queue_name}): Kueue evicted it, for example "
            "preempted by a job of higher priority or its pods not ready in time; the Workload's Evicted "
            f"condition says which ({workloads}); it runs again once Kueue admits it again",
        )
    return (
        SUSPENDED,
        "Suspended",
        f"suspended: waiting for admission by Kueue (queue {job.queue_name}); see {workloads}",
    )


def _seconds_left(since: str, seconds: int, now: datetime) -> int:
    # Rounded up: timestamps keep whole seconds, so a job started at 12:00:00.9 has its
    # start written as 12:00:00 and must not look past a 1 s deadline on its first sync.
    return math.ceil((parse_timestamp(since) + timedelta(seconds=seconds) - now).total_seconds())


def _progress(job: MPIJob, launcher: Launcher, workers: Workers) -> tuple[str, str, str]:
    """Pending or Running, with a message that says what the job waits for."""
    not_ready = job.replicas - workers.ready
    counts = f"{workers.ready}/{job.replicas} workers ready"
    if not_ready:
        counts += f", {not_ready} not ready"
    if job.daemons and not_ready:
        counts += "; daemons: at most one worker per node, so a worker stays Pending while no free node is left"
    if workers.ready >= job.min_replicas and launcher.state == "Active":
        return RUNNING, "LauncherRunning", f"running: launcher active, {counts}"
    if workers.ready < job.min_replicas:
        return (
            PENDING,
            "WaitingForWorkers",
            f"waiting for workers: {counts} (mpirun starts once {job.min_replicas} answer SSH)",
        )
    if not launcher.exists:
        return PENDING, "CreatingLauncher", f"waiting for the launcher Job to be created; {counts}"
    return PENDING, "WaitingForLauncher", f"waiting for the launcher pod to start; {counts}"
