"""`python -m bench.race`: the Kubeflow MPI Operator against this project, each alone.

    python -m bench.race [--kubeflow-bin PATH --kubeflow-crd PATH] \\
        --metacontroller-bin PATH --metacontroller-crds PATH --jobs 200 [--qps 50 --burst 100]

For each operator a fresh test control plane (testkit/cluster.py: etcd,
kube-apiserver, kube-controller-manager, kube-scheduler, kwok with --nodes fake nodes)
runs N MPIJobs of 1 launcher + 4 workers x 1 slot, submitted at once. Reported: seconds
from the first submission to all launcher and all worker pods Running, and to every job's
status saying so (a controller behind its pods still has work queued; waited for at most
--status-wait seconds); CPU of the controller processes until the pods run, and until the
operator is quiet: --settle seconds after the statuses without an API write by it or a hook
call, waited for at most --status-wait seconds more (Metacontroller and the functions
apart); apiserver writes until then by resource and by client (an audit log of writes
only: verb, resource, user agent). A job of this project found still starting once its
children exist asks for a resync 60 s later (the explain timer, mpifn/explain.py), which
Metacontroller makes even if the job ran meanwhile: the quiet wait counts such syncs when
the gap before them is shorter than --settle (2g in BENCHMARKS.md found one per job at
200 jobs before the timer was asked for less often). Then --idle seconds of nothing
changing give each process's idle CPU rate, and the CPU until quiet less that rate over
the same time is reported as the work itself: a controller that waits minutes before
its last status write (Kubeflow's does, below) is not charged for the wait. Kubeflow's
binary binds port 8080 for its health check (not configurable): the port must be free.

Kubeflow's operator takes every event through a rate-limited queue (10 events per second,
burst 100, by default): at 200 jobs its statuses say Running minutes after its pods run.
--kubeflow-queue-qps/--kubeflow-queue-burst raise that limit to race it without the wait.

Kubeflow's binary and CRD default to those scripts/build-tools.sh builds (by default, or
`bash scripts/build-tools.sh mpi-operator`, cached under MPIFN_TOOLS_DIR); the operator is
started as the Kueue tests start it (testkit/kubeflow.py).

Metacontroller's work queue adds per job (from its metrics) are reported beside the hook
calls: the events that made it look at a job again, whether or not a sync followed.

--other-pods N then churns N pods of no MPI job (in batches that fit the free kwok
capacity: created, Running, deleted) and reports each controller's CPU per churned pod:
what a busy cluster's unrelated pods cost each operator.

--apply-strategy sets Metacontroller's (default server-side-apply, as the README advises;
dynamic-apply is Metacontroller's own default).

--qps/--burst set the client rate limits of both controllers (Kubeflow's --kube-api-qps and
--kube-api-burst, Metacontroller's --client-go-qps and --client-go-burst); without them each
keeps its defaults. --kcm-qps/--kcm-burst set kube-controller-manager's, whose StatefulSet
and Job controllers create this project's pods (and Kubeflow's launcher pod).

Never part of the tests; results go to stdout and --output (JSON)."""

import argparse
import collections
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import proc  # noqa: E402
from mpifn import api  # noqa: E402
from mpifn.endpoints import server_defaults  # noqa: E402
from testkit.cluster import Cluster  # noqa: E402
from testkit.driver import APPLY_STRATEGIES, metacontroller_crds  # noqa: E402
from testkit.kubeflow import start_kubeflow_operator  # noqa: E402
from testkit.kwok import ANN_HOLD  # noqa: E402
from testkit.loopback import INSECURE, http_get  # noqa: E402
from testkit.manifests import operator_manifests  # noqa: E402
from testkit.processes import ComponentError, Process  # noqa: E402
from testkit.server import free_port  # noqa: E402

NAMESPACE = "race"
WORKERS = 4
KWOK_NODE_PODS = 110  # the pod capacity testkit/kwok-stages/node-ready.yaml gives each node
KUBEFLOW_BUILT = (
    Path(os.environ.get("MPIFN_TOOLS_DIR") or Path.home() / ".cache" / "mpifn-tools") / "mpi-operator-v0.8.0"
)
OTHERS = "others"
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
KUBEFLOW_ROLE_LABEL = "training.kubeflow.org/job-role"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
# Writes, and the watches of MPIJobs: a controller's informers have synced once it watches them.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "verbs": list(WRITE_VERBS)},
        {"level": "Metadata", "verbs": ["watch"], "resources": [{"group": "*", "resources": ["mpijobs"]}]},
        {"level": "None"},
    ],
}
AUDIT_MARKER = "audit-marker"  # a ConfigMap written after the measured writes


@dataclass
class Settings:
    jobs: int
    nodes: int
    qps: int | None
    burst: int | None
    kcm_qps: int | None
    kcm_burst: int | None
    settle: float  # seconds without an operator write or hook call that end a race
    timeout: float
    metacontroller_workers: int | None = None
    other_pods: int = 0
    pprof: Path | None = None  # Metacontroller's CPU profile of the first pprof_seconds after submission
    pprof_seconds: int = 60
    apply_strategy: str = APPLY_STRATEGIES[0]  # Metacontroller's --apply-strategy
    status_wait: float = 120.0  # seconds after the pods run to wait for every status to say Running
    idle: float = 30.0  # seconds of nothing changing measured after the race: each process's idle CPU rate
    kubeflow_queue_qps: int | None = None  # Kubeflow's --controller-queue-rate-limit (its own default: 10)
    kubeflow_queue_burst: int | None = None  # and --controller-queue-burst (its own: 100)


@dataclass
class Controller:
    """The processes of one operator, by the name its CPU is reported under."""

    processes: dict[str, Process]
    role_label: str
    agent: str  # how the user agent its API writes carry begins
    flags: dict[str, list[str]] = field(default_factory=dict)
    pprof_address: str | None = None  # Metacontroller's, when asked to profile
    # Metacontroller's Prometheus endpoint. Kubeflow's operator registers no work queue
    # metrics (v0.8.0 sets no workqueue metrics provider), so it has none here.
    metrics_url: str | None = None

    def cpu(self) -> dict[str, float]:
        """CPU seconds of each process group (each runs in a session of its own)."""
        return {name: proc.group_cpu_seconds(started(process)) for name, process in self.processes.items()}

    def hook_calls(self) -> dict[str, int]:
        """Requests the functions answered, by function (their one log line each); {} for Kubeflow."""
        functions = self.processes.get("functions")
        if functions is None:
            return {}
        calls: collections.Counter[str] = collections.Counter()
        for line in functions.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"duration_ms"' in line:
                calls[json.loads(line).get("function", "?")] += 1
        return dict(calls)

    def queue_adds(self) -> dict[str, float]:
        """Metacontroller's work queue adds by queue (queue_adds below); {} for Kubeflow."""
        if self.metrics_url is None:
            return {}
        with urllib.request.urlopen(self.metrics_url, timeout=10) as answer:
            return queue_adds(answer.read().decode())


def queue_adds(metrics: str) -> dict[str, float]:
    """Keys added to each work queue (client-go's workqueue_adds_total, by queue name) in a
    Prometheus text exposition: one per event that made the controller look at an object."""
    return {
        sample.labels.get("name", "?"): sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "workqueue_adds_total"
    }


def started(process: Process) -> int:
    """The pid of a started process, its process group's id too."""
    if process.pid is None:
        raise ComponentError(f"{process.name} was never started")
    return process.pid


# ---------------------------------------------------------------- the jobs


def our_job(index: int) -> dict[str, Any]:
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": f"race-{index:04d}", "namespace": NAMESPACE},
        "spec": {
            "replicas": WORKERS,
            "slotsPerWorker": 1,
            "template": {
                "metadata": {"annotations": {ANN_HOLD: "true"}},  # kwok keeps the launcher running
                "spec": {
                    "containers": [
                        {"name": "mpi", "image": "mpifn/mpibase:0.1.0", "command": ["mpirun"], "args": ["hostname"]}
                    ]
                },
            },
        },
    }


def kubeflow_job(index: int) -> dict[str, Any]:
    def replicas(count: int, container: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
        return {
            "replicas": count,
            "template": {"metadata": {"annotations": annotations}, "spec": {"containers": [container]}},
        }

    image = "mpioperator/mpi-pi:openmpi"
    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": f"race-{index:04d}", "namespace": NAMESPACE},
        "spec": {
            "slotsPerWorker": 1,
            "runPolicy": {"cleanPodPolicy": "Running"},
            "mpiReplicaSpecs": {
                "Launcher": replicas(
                    1,
                    {"name": "launcher", "image": image, "command": ["mpirun"], "args": ["hostname"]},
                    {ANN_HOLD: "true"},
                ),
                "Worker": replicas(WORKERS, {"name": "worker", "image": image, "command": ["/usr/sbin/sshd"]}, {}),
            },
        },
    }


# ---------------------------------------------------------------- the operators


def start_kubeflow(cluster: Cluster, binary: Path, crd: Path, settings: Settings) -> Controller:
    rates = [] if settings.qps is None else [f"--kube-api-qps={settings.qps}", f"--kube-api-burst={settings.burst}"]
    if settings.kubeflow_queue_qps is not None:
        rates += [
            f"--controller-queue-rate-limit={settings.kubeflow_queue_qps}",
            f"--controller-queue-burst={settings.kubeflow_queue_burst}",
        ]
    process = start_kubeflow_operator(cluster, binary, crd, rates)
    return Controller({"mpi-operator": process}, KUBEFLOW_ROLE_LABEL, "mpi-operator", {"mpi-operator": rates})


def start_ours(cluster: Cluster, binary: Path, crds: Path, settings: Settings) -> Controller:
    port = free_port()
    # One process answers every hook here; it serves them as the sync and finalize images do.
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    server_defaults("sync", environ)
    functions = cluster.spawn_extra(
        "functions",
        [sys.executable, "-m", "mpifn.serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environ,
        cwd=ROOT,
    )
    cluster.wait_for(lambda: http_get(f"http://127.0.0.1:{port}/_/health")[0] == 200, "the functions' /_/health", 60)
    own = metacontroller_crds(crds)
    cluster.apply(*own)
    cluster.wait_crds_established([crd["metadata"]["name"] for crd in own])
    docs = [doc for doc in yaml.safe_load_all(operator_manifests(cluster, f"http://127.0.0.1:{port}")) if doc]
    operator_crds = [doc for doc in docs if doc["kind"] == "CustomResourceDefinition"]
    cluster.apply(*operator_crds)
    cluster.wait_crds_established([crd["metadata"]["name"] for crd in operator_crds])
    cluster.apply(*(doc for doc in docs if doc["kind"] != "CustomResourceDefinition"))
    health, metrics = free_port(), free_port()
    flags = [f"--metrics-address=127.0.0.1:{metrics}", f"--health-probe-bind-address=127.0.0.1:{health}"]
    rates = [] if settings.qps is None else [f"--client-go-qps={settings.qps}", f"--client-go-burst={settings.burst}"]
    if settings.metacontroller_workers is not None:
        rates.append(f"--workers={settings.metacontroller_workers}")
    rates.append(f"--apply-strategy={settings.apply_strategy}")
    profiler = None
    if settings.pprof is not None:
        profiler = f"127.0.0.1:{free_port()}"
        flags.append(f"--pprof-address={profiler}")
    metacontroller = cluster.spawn_extra(
        "metacontroller", [str(binary), *flags, *rates], env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    )
    cluster.wait_for(lambda: http_get(f"http://127.0.0.1:{health}/readyz")[0] == 200, "Metacontroller's /readyz", 60)
    return Controller(
        {"metacontroller": metacontroller, "functions": functions},
        api.LABEL_ROLE,
        "metacontroller",
        {"metacontroller": rates},
        profiler,
        f"http://127.0.0.1:{metrics}/metrics",
    )


# ---------------------------------------------------------------- measuring


def running_by_role(cluster: Cluster, role_label: str, namespace: str = NAMESPACE) -> collections.Counter[str]:
    """Running pods of the namespace by role, from a metadata-only list."""
    path = f"/api/v1/namespaces/{namespace}/pods?fieldSelector=status.phase%3DRunning"
    items = _api(cluster, "GET", path, accept=METADATA_ONLY)["items"] or []  # null when none
    return collections.Counter(item["metadata"].get("labels", {}).get(role_label, "") for item in items)


def submit(cluster: Cluster, jobs: list[dict[str, Any]]) -> None:
    post_all(cluster, f"/apis/{jobs[0]['apiVersion']}/namespaces/{NAMESPACE}/mpijobs", jobs)


def post_all(cluster: Cluster, path: str, objects: list[dict[str, Any]]) -> None:
    """Create the objects with a few concurrent POSTs (kubectl would add its own rate limit)."""

    def create(body: dict[str, Any]) -> None:
        _api(cluster, "POST", path, body)  # an answer other than 2xx raises

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, objects))


@dataclass
class AuditTail:
    """An audit log read as it grows: each complete line once (not a last line still being
    written)."""

    path: Path
    offset: int = 0

    def new_events(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as log:
            log.seek(self.offset)
            complete, newline, _ = log.read().rpartition(b"\n")
        self.offset += len(complete) + len(newline)
        return [json.loads(line) for line in complete.split(b"\n") if line]


def audit_events(audit_log: Path) -> list[dict[str, Any]]:
    """The events of the audit log so far."""
    return AuditTail(audit_log).new_events()


def is_write(event: dict[str, Any]) -> bool:
    return event.get("stage") == "ResponseComplete" and event["verb"] in WRITE_VERBS


def is_lease(event: dict[str, Any]) -> bool:
    """Node heartbeats and leader election: they grow with a run's length, not with its jobs."""
    return event.get("objectRef", {}).get("resource") == "leases"


def writes(audit_log: Path, after: str, until: str) -> list[dict[str, Any]]:
    """Completed write requests between two audit timestamps (RFC 3339, comparable as text)."""
    return [e for e in audit_events(audit_log) if is_write(e) and after <= e.get("stageTimestamp", "") <= until]


def watching_mpijobs(audit_log: Path) -> bool:
    """Whether someone watches MPIJobs: an operator's informer, started once its list is in."""
    return any(
        e["verb"] == "watch" and e.get("objectRef", {}).get("resource") == "mpijobs" for e in audit_events(audit_log)
    )


def holds_marker(audit_log: Path) -> bool:
    """Whether the marker write (writes_until) is in the audit log."""
    return any(
        e["verb"] == "create"
        and e["stage"] == "ResponseComplete"
        and e.get("objectRef", {}).get("name") == AUDIT_MARKER
        for e in audit_events(audit_log)
    )


def writes_until(cluster: Cluster, audit_log: Path, after: str, until: str) -> list[dict[str, Any]]:
    """writes() once the audit log holds every write through `until`: when a marker object
    written after it is in the log."""
    marker = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": AUDIT_MARKER, "namespace": NAMESPACE}}
    _api(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps", marker)
    cluster.wait_for(lambda: holds_marker(audit_log), "the marker write in the audit log", timeout=60)
    return writes(audit_log, after, until)


def milestones(events: list[dict[str, Any]], after: str) -> dict[str, float]:
    """Seconds from `after` to the last write of each (client, verb, resource) with at
    least 20 of them: where the time of a run went (who finished creating what, when)."""
    start = _seconds(after)
    last: dict[str, float] = {}
    count: collections.Counter[str] = collections.Counter()
    for event in events:
        ref = event.get("objectRef", {})
        resource = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        key = f"{event.get('userAgent', '?').split('/', 1)[0]} {event['verb']} {resource}"
        count[key] += 1
        last[key] = max(last.get(key, 0.0), _seconds(event["stageTimestamp"]) - start)
    return {key: round(seconds, 1) for key, seconds in sorted(last.items(), key=lambda kv: kv[1]) if count[key] >= 20}


def _seconds(stamp: str) -> float:
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return time.mktime(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float(f"0.{fraction or 0}")


def count_writes(events: list[dict[str, Any]]) -> dict[str, Any]:
    by_resource: collections.Counter[str] = collections.Counter()
    by_client: collections.Counter[str] = collections.Counter()
    for event in events:
        ref = event.get("objectRef", {})
        resource = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        by_resource[f"{event['verb']} {resource}"] += 1
        by_client[event.get("userAgent", "?").split("/", 1)[0]] += 1
    return {
        "total": len(events),
        "without_leases": sum(1 for event in events if not is_lease(event)),
        "by_resource": dict(by_resource.most_common()),
        "by_client": dict(by_client),
    }


def _audit_now() -> str:
    """Now, as the apiserver (on this machine) writes times in its audit log."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


@contextmanager
def cluster_for(settings: Settings) -> Iterator[tuple[Cluster, Path]]:
    """A fresh control plane whose apiserver logs every write; yields it and that log."""
    with tempfile.TemporaryDirectory(prefix="mpifn-race-") as folder:
        audit_dir = Path(folder)
        policy = audit_dir / "policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY))
        extra = {
            "kube-apiserver": [f"--audit-policy-file={policy}", f"--audit-log-path={audit_dir / 'audit.log'}"],
            "kube-controller-manager": [],
        }
        if settings.kcm_qps is not None:
            extra["kube-controller-manager"] = [
                f"--kube-api-qps={settings.kcm_qps}",
                f"--kube-api-burst={settings.kcm_burst}",
            ]
        with Cluster(nodes=settings.nodes, extra_args=extra) as cluster:
            yield cluster, audit_dir / "audit.log"


def race(
    operator: str, start: Callable[[Cluster], Controller], job: Callable[[int], dict[str, Any]], settings: Settings
) -> dict[str, Any]:
    with cluster_for(settings) as (cluster, audit_log):
        cluster.create_namespace(NAMESPACE)
        controller = start(cluster)
        cluster.wait_for(lambda: watching_mpijobs(audit_log), "the operator's watch of MPIJobs", timeout=60)
        cpu_before = controller.cpu()
        after = _audit_now()
        started = time.monotonic()
        profiling = _profile(controller, settings)
        submit(cluster, [job(index) for index in range(settings.jobs)])
        submitted = time.monotonic() - started
        seen: dict[str, float] = {}
        counts: collections.Counter[str] = collections.Counter()
        wanted = {"launcher": settings.jobs, "worker": settings.jobs * WORKERS}
        while len(seen) < len(wanted):
            cluster.check_alive()
            elapsed = time.monotonic() - started
            if elapsed > settings.timeout:
                raise TimeoutError(f"{operator}: not all pods Running after {settings.timeout:.0f}s: {dict(counts)}")
            counts = running_by_role(cluster, controller.role_label)
            for role, count in wanted.items():
                if role not in seen and counts[role] >= count:
                    seen[role] = elapsed
            time.sleep(0.5)
        all_running = max(seen.values())
        cpu_running = controller.cpu()
        # A controller that lags behind its pods still has work queued: measured until it is
        # done, or for at most status_wait seconds more.
        statuses = _statuses_running(cluster, job(0)["apiVersion"], settings)
        statuses_running = time.monotonic() - started
        quiet = _wait_quiet(cluster, controller, AuditTail(audit_log), settings)
        cpu_settled = controller.cpu()
        settled = time.monotonic() - started
        calls = controller.hook_calls()
        queued = controller.queue_adds()
        until = _audit_now()
        events = writes_until(cluster, audit_log, after, until)
        versions = cluster.versions
        if profiling is not None:
            profiling.join()
        idle = idle_rates(controller, settings.idle)
        others = churn(cluster, controller, settings) if settings.other_pods else None
    spent = {k: cpu_settled[k] - cpu_before[k] for k in cpu_before}
    return {
        "operator": operator,
        "jobs": settings.jobs,
        "submit_seconds": submitted,
        "launchers_running_seconds": seen["launcher"],
        "workers_running_seconds": seen["worker"],
        "all_running_seconds": all_running,
        "statuses_running_seconds": statuses_running,
        "statuses_running": statuses,
        "quiet": quiet,
        "cpu_seconds_until_running": {k: cpu_running[k] - cpu_before[k] for k in cpu_before},
        "cpu_seconds_until_settled": spent,
        "settled_seconds": settled,
        "cpu_idle_per_second": idle,
        "cpu_seconds_working": working_cpu(spent, idle, settled),
        "writes": count_writes(events),
        "hook_calls": calls,
        "queue_adds": queued,
        "other_pods": others,
        "last_write_seconds": milestones(events, after),
        "flags": controller.flags,
        "versions": {"kubernetes": versions["kubernetes"], "etcd": versions["etcd"], "kwok": versions["kwok"]},
    }


def idle_rates(controller: Controller, seconds: float) -> dict[str, float]:
    """Each process's CPU seconds per second over `seconds` of nothing changing (every job's
    status written, no job submitted): what it spends however long a measurement waits."""
    before = controller.cpu()
    time.sleep(seconds)
    after = controller.cpu()
    return {name: (after[name] - before[name]) / seconds for name in before}


def working_cpu(spent: dict[str, float], idle: dict[str, float], seconds: float) -> dict[str, float]:
    """CPU seconds spent over `seconds` less what each process spends idle in that time: the
    work itself, alike for a controller that finishes in 40 s and one that waits 400 s."""
    return {name: spent[name] - idle[name] * seconds for name in spent}


def _profile(controller: Controller, settings: Settings) -> threading.Thread | None:
    """Write Metacontroller's CPU profile of the next pprof_seconds to settings.pprof, in the
    background (read it with `go tool pprof -top BINARY FILE`)."""
    if controller.pprof_address is None or settings.pprof is None:
        return None
    url = f"http://{controller.pprof_address}/debug/pprof/profile?seconds={settings.pprof_seconds}"
    target = settings.pprof

    def fetch() -> None:
        with urllib.request.urlopen(url, timeout=settings.pprof_seconds + 30) as response:
            target.write_bytes(response.read())

    thread = threading.Thread(target=fetch, name="pprof", daemon=True)
    thread.start()
    return thread


def churn(cluster: Cluster, controller: Controller, settings: Settings) -> dict[str, Any]:
    """settings.other_pods pods of no MPI job, in batches that fit the kwok nodes' free room:
    each batch created, waited for until Running, deleted and waited for until gone.
    Returns each controller process's CPU seconds over the churn and per churned pod."""
    cluster.create_namespace(OTHERS)
    batch = max(1, min(settings.other_pods, settings.nodes * KWOK_NODE_PODS - settings.jobs * (WORKERS + 1)))
    before = controller.cpu()
    done = 0
    while done < settings.other_pods:
        size = min(batch, settings.other_pods - done)
        pods = [other_pod(done + index) for index in range(size)]
        post_all(cluster, f"/api/v1/namespaces/{OTHERS}/pods", pods)
        cluster.wait_for(partial(_all_running, cluster, size), "other pods Running", timeout=settings.timeout)
        _api(cluster, "DELETE", f"/api/v1/namespaces/{OTHERS}/pods")
        cluster.wait_for(
            lambda: not _names(cluster, f"/api/v1/namespaces/{OTHERS}/pods"),
            "other pods gone",
            timeout=settings.timeout,
        )
        done += size
    after = controller.cpu()
    spent = {name: after[name] - before[name] for name in before}
    return {
        "pods": settings.other_pods,
        "batch": batch,
        "cpu_seconds": spent,
        "cpu_ms_per_pod": {name: seconds * 1000 / settings.other_pods for name, seconds in spent.items()},
    }


def other_pod(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"other-{index:05d}", "namespace": OTHERS, "labels": {"app": "other"}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/other:1"}]},
    }


def _all_running(cluster: Cluster, size: int) -> bool:
    return sum(running_by_role(cluster, "app", OTHERS).values()) >= size


def _statuses_running(cluster: Cluster, api_version: str, settings: Settings) -> int:
    """How many MPIJobs' statuses say Running: waited for until all do, for at most
    settings.status_wait seconds (a list every 2 s: the list of 1000 jobs is megabytes)."""
    deadline = time.monotonic() + settings.status_wait
    while True:
        cluster.check_alive()
        items = _api(cluster, "GET", f"/apis/{api_version}/namespaces/{NAMESPACE}/mpijobs")["items"] or []
        count = sum(1 for item in items if says_running(item))
        if count >= settings.jobs or time.monotonic() > deadline:
            return count
        time.sleep(2)


def operator_writes(events: list[dict[str, Any]], agent: str) -> int:
    """Completed writes by a client whose user agent begins with `agent`, leader-election leases aside."""
    return sum(1 for e in events if is_write(e) and not is_lease(e) and e.get("userAgent", "").startswith(agent))


def _wait_quiet(cluster: Cluster, controller: Controller, audit: AuditTail, settings: Settings) -> bool:
    """Wait until the operator has gone settings.settle seconds without an API write or a
    hook call, for at most settings.status_wait seconds; whether it went quiet."""
    audit.new_events()  # what came before is not activity now
    calls = sum(controller.hook_calls().values())
    last_activity = time.monotonic()
    deadline = last_activity + settings.status_wait
    while time.monotonic() - last_activity < settings.settle:
        if time.monotonic() > deadline:
            return False
        cluster.check_alive()
        time.sleep(2)
        now_calls = sum(controller.hook_calls().values())
        if operator_writes(audit.new_events(), controller.agent) or now_calls != calls:
            calls, last_activity = now_calls, time.monotonic()
    return True


def says_running(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(isinstance(c, dict) and c.get("type") == "Running" and c.get("status") == "True" for c in conditions)


def _names(cluster: Cluster, path: str) -> list[str]:
    found = _api(cluster, "GET", path, accept=METADATA_ONLY)
    return [item["metadata"]["name"] for item in found.get("items") or []]


def _api(cluster: Cluster, method: str, path: str, body: Any = None, accept: str = "application/json") -> Any:
    """One authenticated API request; its JSON answer (urllib raises on an error status)."""
    request = urllib.request.Request(
        cluster.server + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {cluster.token}", "Content-Type": "application/json", "Accept": accept},
    )
    with urllib.request.urlopen(request, timeout=60, context=INSECURE) as response:
        return json.load(response)


# ---------------------------------------------------------------- main


def report(result: dict[str, Any]) -> str:
    jobs = result["jobs"]
    cpu = result["cpu_seconds_until_settled"]
    writes_ = result["writes"]
    ours_by_client = {k: v for k, v in writes_["by_client"].items() if k != "kubectl"}
    lines = [
        f"{result['operator']}: {jobs} jobs, all Running in {result['all_running_seconds']:.1f} s "
        f"(launchers {result['launchers_running_seconds']:.1f} s, workers {result['workers_running_seconds']:.1f} s; "
        f"submitted in {result['submit_seconds']:.1f} s); {result['statuses_running']} statuses Running at "
        f"{result['statuses_running_seconds']:.1f} s; "
        + ("quiet" if result["quiet"] else "NOT quiet (bounded by --status-wait)")
        + f" at {result['settled_seconds']:.1f} s",
        "  CPU s until pods Running: "
        + ", ".join(f"{k} {v:.2f}" for k, v in result["cpu_seconds_until_running"].items())
        + "; until quiet: "
        + ", ".join(f"{k} {v:.2f} ({v * 1000 / jobs:.1f} ms/job)" for k, v in cpu.items()),
        "  idle CPU (ms/s): "
        + ", ".join(f"{k} {v * 1000:.2f}" for k, v in result["cpu_idle_per_second"].items())
        + f"; working CPU over the {result['settled_seconds']:.0f} s, idle taken out: "
        + ", ".join(f"{k} {v * 1000 / jobs:.1f} ms/job" for k, v in result["cpu_seconds_working"].items()),
        f"  writes: {writes_['total']}, {writes_['without_leases']} without leases "
        f"({writes_['without_leases'] / jobs:.1f}/job); by client {ours_by_client}",
        "  by resource: " + ", ".join(f"{k} {v}" for k, v in writes_["by_resource"].items()),
        "  last write (s): " + ", ".join(f"{k} {v}" for k, v in result["last_write_seconds"].items()),
    ]
    if result["hook_calls"]:
        lines.append(
            "  hook calls: "
            + ", ".join(f"{k} {v} ({v / jobs:.1f}/job)" for k, v in sorted(result["hook_calls"].items()))
        )
    if result["queue_adds"]:
        lines.append(
            "  work queue adds: "
            + ", ".join(f"{k} {v:.0f} ({v / jobs:.1f}/job)" for k, v in sorted(result["queue_adds"].items()))
        )
    if result["other_pods"]:
        others = result["other_pods"]
        lines.append(
            f"  {others['pods']} other pods churned: CPU "
            + ", ".join(
                f"{k} {v:.2f} s ({others['cpu_ms_per_pod'][k]:.2f} ms/pod)" for k, v in others["cpu_seconds"].items()
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeflow-bin", type=Path, default=KUBEFLOW_BUILT / "bin" / "mpi-operator")
    parser.add_argument("--kubeflow-crd", type=Path, default=KUBEFLOW_BUILT / "crd" / "kubeflow.org_mpijobs.yaml")
    parser.add_argument("--metacontroller-bin", type=Path)
    parser.add_argument("--metacontroller-crds", type=Path, help="a file or folder of CRDs")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--qps", type=int, help="both controllers' client QPS (default: each its own)")
    parser.add_argument("--burst", type=int, help="both controllers' client burst (with --qps)")
    parser.add_argument("--kcm-qps", type=int, help="kube-controller-manager's client QPS (default: its own)")
    parser.add_argument("--kcm-burst", type=int)
    parser.add_argument("--metacontroller-workers", type=int, help="Metacontroller's --workers (default: its own, 5)")
    parser.add_argument(
        "--apply-strategy",
        choices=APPLY_STRATEGIES,
        default=APPLY_STRATEGIES[0],
        help="Metacontroller's --apply-strategy (default: the README's, server-side-apply)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=30.0,
        help="the end: this many seconds after the statuses without an operator write or a hook call",
    )
    parser.add_argument(
        "--status-wait",
        type=float,
        default=120.0,
        help="at most this long after the pods run for the statuses, and as long again for the quiet",
    )
    parser.add_argument(
        "--idle", type=float, default=30.0, help="seconds measured after the race for each process's idle CPU rate"
    )
    parser.add_argument(
        "--kubeflow-queue-qps",
        type=int,
        help="Kubeflow's --controller-queue-rate-limit (its default, 10 events/s, delays its status by minutes)",
    )
    parser.add_argument("--kubeflow-queue-burst", type=int, help="Kubeflow's --controller-queue-burst (with the qps)")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--operators", default="kubeflow,mpifn")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--pprof", type=Path, help="write Metacontroller's CPU profile after submission here")
    parser.add_argument("--pprof-seconds", type=int, default=60)
    parser.add_argument("--other-pods", type=int, default=0, help="pods of no MPI job churned after the race")
    args = parser.parse_args(argv)
    needs = {"kubeflow": ("kubeflow_bin", "kubeflow_crd"), "mpifn": ("metacontroller_bin", "metacontroller_crds")}
    for operator in args.operators.split(","):
        for option in needs.get(operator, ()):
            if getattr(args, option) is None or not getattr(args, option).exists():
                parser.error(f"--{option.replace('_', '-')}: the {operator} race needs an existing path")
        if operator not in needs:
            parser.error(f"--operators: {operator!r} is neither kubeflow nor mpifn")
    if args.jobs * (WORKERS + 1) > args.nodes * KWOK_NODE_PODS:
        parser.error(
            f"--jobs {args.jobs} needs {args.jobs * (WORKERS + 1)} pods: give --nodes of at least "
            f"{-(-args.jobs * (WORKERS + 1) // KWOK_NODE_PODS)} (a kwok node holds {KWOK_NODE_PODS})"
        )
    if (args.qps is None) != (args.burst is None) or (args.kcm_qps is None) != (args.kcm_burst is None):
        parser.error("give --qps with --burst, and --kcm-qps with --kcm-burst")
    if (args.kubeflow_queue_qps is None) != (args.kubeflow_queue_burst is None):
        parser.error("give --kubeflow-queue-qps with --kubeflow-queue-burst")
    if args.idle <= 0:
        parser.error(f"--idle: must be a number of seconds > 0, got {args.idle}")
    settings = Settings(
        args.jobs,
        args.nodes,
        args.qps,
        args.burst,
        args.kcm_qps,
        args.kcm_burst,
        args.settle,
        args.timeout,
        args.metacontroller_workers,
        args.other_pods,
        args.pprof,
        args.pprof_seconds,
        args.apply_strategy,
        args.status_wait,
        args.idle,
        args.kubeflow_queue_qps,
        args.kubeflow_queue_burst,
    )
    starters = {
        "kubeflow": (lambda c: start_kubeflow(c, args.kubeflow_bin, args.kubeflow_crd, settings), kubeflow_job),
        "mpifn": (lambda c: start_ours(c, args.metacontroller_bin, args.metacontroller_crds, settings), our_job),
    }
    results = []
    for operator in args.operators.split(","):
        start, job = starters[operator]
        results.append(race(operator, start, job, settings))
        print(report(results[-1]), flush=True)
    binaries = {"kubeflow": str(args.kubeflow_bin), "metacontroller": str(args.metacontroller_bin)}
    summary = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(settings).items()},
        "binaries": binaries,
        "results": results,
    }
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
