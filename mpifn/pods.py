"""What the job's own pods say about why it is stuck or failed.

A pure reading of a job's pods into a small typed summary. The explain controller gets the
pods under `related` (its customize hook asks for them) and keeps those that tell something,
cut to the fields read here (`telling_pods`), in its MPIJobExplanation's status; sync reads
them back from there (`read_explanation`). Every detail quotes what the scheduler or the
kubelet wrote; nothing here decides the phase (status.py does)."""

import re
from dataclasses import dataclass
from typing import Any

from mpifn import api, naming
from mpifn.children.launcher import INIT_NAME
from mpifn.children.workers import WORKER_ENTRYPOINT
from mpifn.probetext import InitVerdict, read_verdict

JsonObject = dict[str, Any]

POD_KEY = "Pod.v1"
MAX_LINE = 400  # characters of one detail: kubelet and scheduler messages can be long
LAST_LINES = 5  # of the launcher's output
MAX_KEPT_PODS = 128  # worker pods an explanation keeps, most severe first: its status stays far below etcd's limit

# Status reasons for pod problems, in the order they lead the job's message.
GANG_WAITING = "GangScheduling"
WORKER_COMMAND_MISSING = "WorkerCommandMissing"
IMAGE_PULL = "ImagePullBackOff"
OOM_KILLED = "OOMKilled"
CRASH_LOOP = "CrashLoopBackOff"
CONTAINER_EXITED = "ContainerExited"
CANNOT_START = "ContainerCannotStart"
NO_SSH = "NoSSH"
UNSCHEDULABLE = "Unschedulable"
SEVERITY = (
    GANG_WAITING,
    WORKER_COMMAND_MISSING,
    IMAGE_PULL,
    OOM_KILLED,
    CRASH_LOOP,
    CONTAINER_EXITED,
    CANNOT_START,
    NO_SSH,
    UNSCHEDULABLE,
)
_IMAGE_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
_STARTING_REASONS = ("ContainerCreating", "PodInitializing", "")
_MISSING_FILE = ("no such file or directory", "not found")

# What the init step can say about one worker (the probe's reasons), and what to check.
SSH_FIXES = {
    "refused": "nothing listens on the SSH port: the worker image must start sshd there (derive it from mpibase)",
    "timeout": "no SSH answer in time: the worker is not running yet, or a NetworkPolicy blocks the SSH port",
    "not-ssh": "the port answers, but not with SSH: sshPort names another service",
    "no-dns": "the worker's name does not resolve: its pod does not exist or is not running",
}


@dataclass(frozen=True)
class Problem:
    """Why one pod does not run as it should."""

    reason: str  # one of SEVERITY
    pod: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        """One line of at most MAX_LINE characters: a long quoted message is cut, the fix never."""
        fix = f"; fix: {self.fix}" if self.fix else ""
        room = MAX_LINE - len(self.pod) - 2 - len(fix)
        detail = self.detail if len(self.detail) <= room else self.detail[: max(room - 3, 0)] + "..."
        return f"{self.pod}: {detail}{fix}"

    def rank(self) -> tuple[int, int, str]:
        return SEVERITY.index(self.reason), _index_of(self.pod), self.pod


@dataclass(frozen=True)
class Exit:
    """How the launcher's main container (mpirun) ended."""

    container: str
    code: int
    reason: str
    last_lines: str
    memory_limit: str


@dataclass(frozen=True)
class LauncherPod:
    name: str
    init: InitVerdict | None
    exit: Exit | None
    problem: Problem | None  # why it does not start (scheduling, image, ...)

    def unreachable(self) -> tuple[Problem, ...]:
        """The workers the init step found without SSH, as problems of their own."""
        if self.init is None:
            return ()
        return tuple(
            Problem(NO_SSH, u.worker, f"no SSH at launch: {u.reason} ({u.detail})", SSH_FIXES.get(u.reason, ""))
            for u in self.init.unreachable
        )


@dataclass(frozen=True)
class PodReport:
    seen: bool  # the request carried the job's pods (the customize hook is on)
    read: int  # pods read: the launcher and the workers asked for
    problems: tuple[Problem, ...]  # worker pods, most severe first, then by worker index
    launcher: LauncherPod | None


NO_PODS = PodReport(False, 0, (), None)


def read_pods(related: Any, namespace: str, job_name: str) -> PodReport:
    """The job's pods in `related` ({"Pod.v1": {"ns/name": pod}}); anything else is ignored."""
    workers, launchers = _job_pods(related, namespace, job_name)
    problems = sorted(
        (problem for problem in (_pod_problem(pod, exits=True) for pod in workers) if problem is not None),
        key=Problem.rank,
    )
    newest = max(launchers, key=_creation, default=None)
    return PodReport(True, len(workers) + len(launchers), tuple(problems), _launcher(newest) if newest else None)


def telling_pods(related: Any, namespace: str, job_name: str) -> JsonObject:
    """What an MPIJobExplanation's status keeps of the job's pods: how many were read, and
    the newest launcher pod and the worker pods with a problem (at most MAX_KEPT_PODS, most
    severe first), each cut to what read_pods reads (a pod's managed fields and most of its
    spec would make the status large)."""
    workers, launchers = _job_pods(related, namespace, job_name)
    found = [(problem, pod) for pod in workers if (problem := _pod_problem(pod, exits=True)) is not None]
    kept = [pod for _, pod in sorted(found, key=lambda pair: pair[0].rank())[:MAX_KEPT_PODS]]
    newest = max(launchers, key=_creation, default=None)
    if newest is not None:
        kept.append(newest)
    return {"read": len(workers) + len(launchers), "pods": [_essentials(pod) for pod in kept]}


def read_explanation(explanation: JsonObject | None, namespace: str, job_name: str) -> PodReport:
    """The report told by an MPIJobExplanation's status (NO_PODS before it has one)."""
    status = _object(explanation, "status")
    kept = status.get("pods")
    if not isinstance(kept, list):
        return NO_PODS
    by_name = {
        f"{namespace}/{_text(_object(pod, 'metadata').get('name'))}": pod for pod in kept if isinstance(pod, dict)
    }
    report = read_pods({POD_KEY: by_name}, namespace, job_name)
    return PodReport(True, max(_int(status.get("read")), report.read), report.problems, report.launcher)


def _job_pods(related: Any, namespace: str, job_name: str) -> tuple[list[JsonObject], list[JsonObject]]:
    """The job's live worker and launcher pods among `related`."""
    pods = related.get(POD_KEY) if isinstance(related, dict) else None
    workers: list[JsonObject] = []
    launchers: list[JsonObject] = []
    if not isinstance(pods, dict):
        return workers, launchers
    for pod in pods.values():
        metadata = _object(pod, "metadata")
        labels = _object(metadata, "labels")
        if labels.get(api.LABEL_JOB) != job_name or metadata.get("namespace", namespace) != namespace:
            continue
        if metadata.get("deletionTimestamp") or not isinstance(metadata.get("name"), str):
            continue
        role = labels.get(api.LABEL_ROLE)
        if role == api.ROLE_WORKER:
            workers.append(pod)
        elif role == api.ROLE_LAUNCHER:
            launchers.append(pod)
    return workers, launchers


def _essentials(pod: JsonObject) -> JsonObject:
    """The fields of a pod that read_pods reads, and nothing else."""
    metadata, spec, status = _object(pod, "metadata"), _object(pod, "spec"), _object(pod, "status")
    labels = _object(metadata, "labels")
    containers = {
        key: [_container_essentials(c) for c in _list(spec.get(key)) if isinstance(c, dict)]
        for key in ("containers", "initContainers")
        if key in spec
    }
    anti = _object(_object(spec, "affinity"), "podAntiAffinity")
    return {
        "metadata": {key: metadata[key] for key in ("name", "namespace", "creationTimestamp") if key in metadata}
        | {"labels": {key: labels[key] for key in (api.LABEL_JOB, api.LABEL_ROLE) if key in labels}},
        "spec": containers | ({"affinity": {"podAntiAffinity": anti}} if anti else {}),
        "status": {
            key: status[key] for key in ("conditions", "initContainerStatuses", "containerStatuses") if key in status
        },
    }


def _container_essentials(container: JsonObject) -> JsonObject:
    kept = {field: container[field] for field in ("name", "image") if field in container}
    limit = _memory_limit(container)
    return kept | ({"resources": {"limits": {"memory": limit}}} if limit else {})


def pod_group_problem(pod_group: JsonObject | None, needed: int) -> Problem | None:
    """A PodGroup (Volcano or scheduler-plugins) whose gang is not yet admitted."""
    if pod_group is None:
        return None
    status = _object(pod_group, "status")
    phase = _text(status.get("phase"))
    if phase in ("Running", "Scheduled", "Succeeded", "Finished", "Completed"):
        return None
    unschedulable = next(
        (c for c in _list(status.get("conditions")) if isinstance(c, dict) and c.get("type") == "Unschedulable"),
        {},
    )
    said = _text(unschedulable.get("message")) if unschedulable.get("status") == "True" else ""
    where = f"phase {phase}" if phase else "no status yet: is the gang scheduler running?"
    return Problem(
        GANG_WAITING,
        f"PodGroup {_text(_object(pod_group, 'metadata').get('name'))}",
        f"waiting for gang scheduling of {needed} pods together ({where}{': ' + said if said else ''})",
        "the cluster needs room for all of them at once; lower minReplicas or free capacity",
    )


def _launcher(pod: JsonObject) -> LauncherPod:
    spec, status = _object(pod, "spec"), _object(pod, "status")
    name = _text(_object(pod, "metadata").get("name"))
    init_status = next((s for s in _statuses(status, "initContainerStatuses") if s.get("name") == INIT_NAME), {})
    ended = _terminated(init_status)
    verdict = read_verdict(_text(ended.get("message"))) if ended else None
    if ended and verdict is None and _int(ended.get("exitCode")) != 0:
        said = _last_lines(_text(ended.get("message"))) or f"exit code {_int(ended.get('exitCode'))}"
        verdict = InitVerdict("failed", said, (), 0)
    containers = [c for c in _list(spec.get("containers")) if isinstance(c, dict)]
    main = containers[0] if containers else {}
    main_status = next((s for s in _statuses(status, "containerStatuses") if s.get("name") == main.get("name")), {})
    finished = _object(_object(main_status, "state"), "terminated")
    exit = None
    if finished:
        exit = Exit(
            _text(main.get("name")),
            _int(finished.get("exitCode")),
            _text(finished.get("reason")),
            _last_lines(_text(finished.get("message"))),
            _memory_limit(main),
        )
    return LauncherPod(name, verdict, exit, _pod_problem(pod, exits=False))


def _pod_problem(pod: JsonObject, exits: bool) -> Problem | None:
    """The most severe problem of one pod; `exits` also counts containers that ended
    (workers must run for ever; the launcher's own end is read apart)."""
    metadata, pod_spec, status = _object(pod, "metadata"), _object(pod, "spec"), _object(pod, "status")
    name = _text(metadata.get("name"))
    found: list[Problem] = []
    scheduled = next(
        (c for c in _list(status.get("conditions")) if isinstance(c, dict) and c.get("type") == "PodScheduled"), {}
    )
    if scheduled.get("status") == "False" and scheduled.get("reason") in ("Unschedulable", "SchedulingGated"):
        message = _text(scheduled.get("message"))
        fix = _scheduling_fix(message, pod_spec)
        found.append(Problem(UNSCHEDULABLE, name, f"cannot be scheduled: {message}", fix))
    for key in ("initContainerStatuses", "containerStatuses"):
        for container_status in _statuses(status, key):
            if not _settled(container_status):
                problem = _container_problem(name, container_status, pod_spec, exits)
                if problem is not None:
                    found.append(problem)
    return min(found, key=Problem.rank, default=None)


def _settled(status: JsonObject) -> bool:
    """Running, or ended well, and never restarted: nothing to read (most pods, most syncs)."""
    state = status.get("state")
    if status.get("lastState") or not isinstance(state, dict):
        return False
    ended = state.get("terminated")
    return "running" in state or (isinstance(ended, dict) and ended.get("exitCode") == 0)


def _container_problem(pod: str, status: JsonObject, pod_spec: JsonObject, exits: bool) -> Problem | None:
    name = _text(status.get("name"))
    spec = next(
        (
            c
            for key in ("containers", "initContainers")
            for c in _list(pod_spec.get(key))
            if isinstance(c, dict) and c.get("name") == name
        ),
        {},
    )
    state = _object(status, "state")
    waiting = _object(state, "waiting")
    waiting_reason = _text(waiting.get("reason"))
    last = _terminated(status) if exits else {}
    said = " ".join(_text(part) for part in (waiting.get("message"), last.get("message"))).lower()
    if WORKER_ENTRYPOINT in said and any(missing in said for missing in _MISSING_FILE):
        image = _text(spec.get("image") or status.get("image"))
        return Problem(
            WORKER_COMMAND_MISSING,
            pod,
            f'image "{image}" has no {WORKER_ENTRYPOINT} (container {name} cannot start)',
            f"the worker image must derive from mpibase, or set its own worker command: an executable "
            f"{WORKER_ENTRYPOINT} that starts sshd on sshPort",
        )
    if waiting_reason in _IMAGE_REASONS:
        image = _text(spec.get("image") or status.get("image"))
        return Problem(
            IMAGE_PULL,
            pod,
            f'cannot pull image "{image}" for container {name} ({waiting_reason}: {_text(waiting.get("message"))})',
            "check the image name and tag, and imagePullSecrets for a private registry",
        )
    if last.get("reason") == "OOMKilled":
        limit = _memory_limit(spec)
        return Problem(
            OOM_KILLED,
            pod,
            f"container {name} was OOMKilled (memory limit {limit or 'none: the node ran out of memory'})",
            f"raise resources.limits.memory of container {name}",
        )
    exited = f"exit code {_int(last.get('exitCode'))} ({_text(last.get('reason')) or 'Error'})"
    if waiting_reason == "CrashLoopBackOff":
        return Problem(CRASH_LOOP, pod, f"container {name} keeps crashing (CrashLoopBackOff), last {exited}")
    if last and _int(last.get("exitCode")) != 0:
        again = "restarted after" if "running" in state else "ended with"
        return Problem(CONTAINER_EXITED, pod, f"container {name} {again} {exited}")
    if waiting_reason not in _STARTING_REASONS and waiting_reason != "CrashLoopBackOff":
        said = f"{waiting_reason}: {waiting['message']}" if _text(waiting.get("message")) else waiting_reason
        return Problem(CANNOT_START, pod, f"container {name} cannot start ({said})")
    return None


def _scheduling_fix(message: str, spec: JsonObject) -> str:
    anti = _object(_object(spec, "affinity"), "podAntiAffinity")
    if "anti-affinity" in message and anti:
        return "daemons put at most one worker on a node: add nodes or lower replicas"
    if "Insufficient" in message:
        return "lower the pods' resource requests or add capacity"
    if "affinity/selector" in message or "node selector" in message:
        return "no node matches the pod's nodeSelector or node affinity"
    if "taint" in message:
        return "add a toleration for the nodes' taints, or use untainted nodes"
    return ""


_WORKER_INDEX = re.compile(r"-(\d+)$")


def _index_of(pod: str) -> int:
    found = _WORKER_INDEX.search(pod)
    return int(found.group(1)) if found and pod.removesuffix(found.group(0)).endswith(naming.WORKER_SUFFIX) else -1


def _terminated(status: JsonObject) -> JsonObject:
    """The container's current termination, else its last one (before a restart)."""
    return _object(_object(status, "state"), "terminated") or _object(_object(status, "lastState"), "terminated")


def _last_lines(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    tail = " | ".join(lines[-LAST_LINES:])
    return tail if len(tail) <= MAX_LINE else "..." + tail[-(MAX_LINE - 3) :]


def _memory_limit(container: JsonObject) -> str:
    return _text(_object(_object(container, "resources"), "limits").get("memory"))


def _creation(pod: JsonObject) -> tuple[str, str]:
    metadata = _object(pod, "metadata")
    return _text(metadata.get("creationTimestamp")), _text(metadata.get("name"))


def _statuses(status: JsonObject, key: str) -> list[JsonObject]:
    return [s for s in _list(status.get(key)) if isinstance(s, dict)]


def _object(value: Any, key: str) -> JsonObject:
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
