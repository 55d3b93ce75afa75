"""Where a job is in its life, decided from the spec, the observed children and the
previous status: what should run now, and what the status says about it."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mpifn import naming
from mpifn.observed import Observed
from mpifn.spec import MPIJob

JsonObject = dict[str, Any]

PENDING, RUNNING, SUCCEEDED, FAILED, SUSPENDED = "Pending", "Running", "Succeeded", "Failed", "Suspended"
FINISHED = (SUCCEEDED, FAILED)


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


@dataclass(frozen=True)
class Workers:
    desired: int
    current: int
    ready: int


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


def parse_timestamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def read_launcher(observed: Observed, job_name: str) -> Launcher:
    child = observed.get("Job", naming.launcher_name(job_name))
    if child is None:
        return Launcher(False, "Absent", "", "", 0, 0, 0, 0)
    status = child.get("status") or {}
    counts = {key: int(status.get(key) or 0) for key in ("active", "ready", "succeeded", "failed")}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        kind = condition.get("type")
        if kind in ("Complete", "Failed", "Suspended"):
            state = {"Complete": "Succeeded"}.get(kind, kind)
            return Launcher(True, state, condition.get("reason", ""), condition.get("message", ""), **counts)
    return Launcher(True, "Active" if counts["active"] else "Waiting", "", "", **counts)


def read_workers(observed: Observed, job: MPIJob, run_workers: int) -> Workers:
    status = (observed.get("StatefulSet", naming.worker_name(job.name)) or {}).get("status") or {}
    return Workers(
        desired=run_workers,
        current=int(status.get("replicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
    )


def decide(job: MPIJob, observed: Observed, previous: JsonObject, now: datetime) -> Lifecycle:
    launcher = read_launcher(observed, job.name)
    previous_phase = previous.get("phase")
    if previous_phase in FINISHED:
        phase, reason, message = previous_phase, previous.get("reason", ""), previous.get("message", "")
    elif launcher.state == "Succeeded":
        phase, reason, message = SUCCEEDED, "LauncherSucceeded", "the launcher completed: mpirun exited 0"
    elif launcher.state == "Failed":
        why = launcher.reason or "LauncherFailed"
        phase, reason = FAILED, why
        message = f"the launcher failed ({why}): {launcher.message or 'mpirun exited non-zero'}"
    elif job.run_policy.suspend:
        phase, reason, message = SUSPENDED, "Suspended", "suspended: no worker pods, launcher Job suspended"
    else:
        phase, reason, message = PENDING, "", ""

    finished = phase in FINISHED
    clean = job.run_policy.clean_pod_policy
    run_workers = 0 if phase == SUSPENDED or (finished and clean != "None") else job.replicas
    workers = read_workers(observed, job, run_workers)
    if phase == PENDING:
        phase, reason, message = _progress(job, launcher, workers)

    start_time = previous.get("startTime")
    if phase != SUSPENDED and (start_time is None or previous_phase == SUSPENDED):
        start_time = timestamp(now)
    completion_time = previous.get("completionTime") if finished else None
    if finished and completion_time is None:
        completion_time = timestamp(now)

    expired, resync = False, None
    ttl = job.run_policy.ttl_seconds_after_finished
    if finished and ttl is not None and completion_time is not None:
        remaining = parse_timestamp(completion_time) + timedelta(seconds=ttl) - now
        expired = remaining.total_seconds() <= 0
        resync = None if expired else max(1, int(remaining.total_seconds()) + 1)

    return Lifecycle(
        phase=phase,
        reason=reason,
        message=message,
        launcher=launcher,
        workers=workers,
        run_workers=run_workers,
        keep_launcher=not (finished and clean == "All") and not expired,
        suspend_launcher=phase == SUSPENDED,
        expired=expired,
        resync_after_seconds=resync,
        start_time=start_time,
        completion_time=completion_time,
    )


def _progress(job: MPIJob, launcher: Launcher, workers: Workers) -> tuple[str, str, str]:
    """Pending or Running, with a message that says what the job waits for."""
    not_ready = job.replicas - workers.ready
    counts = f"{workers.ready}/{job.replicas} workers ready"
    if not_ready:
        counts += f", {not_ready} not ready"
    if workers.ready >= job.min_replicas and launcher.state == "Active":
        return RUNNING, "LauncherRunning", f"running: launcher active, {counts}"
    if workers.ready < job.min_replicas:
        need = f"waiting for workers: {counts} (mpirun starts once {job.min_replicas} answer SSH)"
        if job.daemons and not_ready:
            need += "; daemons: at most one worker per node, so a worker stays Pending while no free node is left"
        return PENDING, "WaitingForWorkers", need
    if not launcher.exists:
        return PENDING, "CreatingLauncher", f"waiting for the launcher Job to be created; {counts}"
    return PENDING, "WaitingForLauncher", f"waiting for the launcher pod to start; {counts}"
