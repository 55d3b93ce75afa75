"""Kueue, the real manager, started as a process against a test Cluster (cluster.py).

Built by scripts/build-tools.sh (``kueue``): the binary, and beside it the module's
``config/`` folder. Its ``config/default`` kustomization is built with kubectl's kustomize,
as Kueue's users install it (namespace ``kueue-system``, names prefixed ``kueue-``, its
labels), and of what it makes the harness installs

- the CRDs (some with a conversion webhook), applied server-side;
- the RBAC: the ServiceAccount ``kueue-controller-manager``, its ClusterRoles, Roles and
  bindings. Kueue runs with a kubeconfig holding a token of that ServiceAccount
  (TokenRequest, :meth:`Cluster.kubeconfig_for`), so it can do what its own RBAC grants
  and nothing more; :meth:`Kueue.denials` lists the requests its log says were refused;
- the webhook configurations, each ``clientConfig.service`` replaced by
  ``url: https://127.0.0.1:PORT/PATH`` and a ``caBundle`` of a certificate made here.
  The webhooks are real: a labelled MPIJob comes back suspended, the queue label is
  immutable.

Not installed: its Deployment, Services, certificate Secret and the visibility
APIServices (Kueue runs as a process on the machine, its visibility server off).

Kueue runs with a v1beta2 Configuration: no leader election, no internal certificate
management (so it reads the webhook's certificate from ``certDir`` and, at a fixed path,
``/etc/kueue/metrics/certs/tls.{crt,key}``, its metrics certificate), every server on a
free loopback port, the ``kubeflow.org/mpijob`` and ``batch/job`` integrations, and optionally
``waitForPodsReady``. The fixed path is served without touching the host's /etc: Kueue
runs in a private mount namespace (``unshare``, as root) whose /etc is an overlay of
the real one with that folder added, the overlay's layers in the cluster's temporary
folder.

:meth:`Kueue.stop` deletes the webhook configurations BEFORE it stops the process:
their failurePolicy is Fail, so while they point at a stopped Kueue every pod, Job or
MPIJob write they cover is refused. A Kueue that cannot start raises ComponentError
with the end of its log.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml

from testkit.cluster import Cluster
from testkit.loopback import http_get
from testkit.processes import ComponentError, Process, run_tool, wait_ready
from testkit.server import free_port
from testkit.tools import tool_binary

API = "kueue.x-k8s.io/v1beta2"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
# whom Kueue's module's RBAC names: the user its ServiceAccount authenticates as
USER = "system:serviceaccount:kueue-system:kueue-controller-manager"
MPIJOBS = "mpijobs.kubeflow.org"
# Kubeflow's pod labels, which Kueue's pod selector for an MPIJob reads
JOB_NAME = "training.kubeflow.org/job-name"
JOB_ROLE = "training.kubeflow.org/job-role"
OPERATOR_NAME = "training.kubeflow.org/operator-name"
ROLES = ("launcher", "worker")
METRICS_CERT_DIR = "/etc/kueue/metrics/certs"
WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")

# Runs Kueue with /etc/kueue/metrics/certs holding the certificate: $1 upper and $2 work
# folder of the overlay, $3 the certificate's folder, then Kueue's argv.
_PRIVATE_ETC = (
    'set -e; mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc; '
    f'mkdir -p {METRICS_CERT_DIR}; cp "$3/tls.crt" "$3/tls.key" {METRICS_CERT_DIR}/; '
    'shift 3; exec "$@"'
)


def kueue_home() -> Path:
    """The folder of the cached build: bin/kueue and config/ (a missing build fails here)."""
    home = tool_binary("kueue").parent.parent
    if not (home / "config" / "default").is_dir():
        raise ComponentError(f"{home}/config is missing: run scripts/build-tools.sh kueue again")
    return home


def serving_certificate(folder: Path) -> bytes:
    """A self-signed certificate for 127.0.0.1 (tls.crt, tls.key in folder); returns the PEM."""
    folder.mkdir(parents=True, exist_ok=True)
    argv = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(folder / "tls.key"),
        "-out",
        str(folder / "tls.crt"),
        "-days",
        "2",
        "-subj",
        "/CN=kueue-webhook",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
    ]
    run_tool(argv, "Kueue's webhook certificate: openssl req")
    return (folder / "tls.crt").read_bytes()


def to_loopback(client_config: dict, base_url: str, ca_bundle: bytes) -> dict:
    """A webhook's clientConfig with its in-cluster Service replaced by Kueue's loopback URL."""
    service = client_config.get("service")
    if not service:
        raise ComponentError(f"expected a clientConfig.service in Kueue's manifests, got {client_config}")
    return {"url": base_url + service.get("path", "/"), "caBundle": base64.b64encode(ca_bundle).decode()}


RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


def module_objects(cluster: Cluster, home: Path) -> list[dict]:
    """What the module's config/default kustomization makes, built by kubectl's kustomize."""
    text = cluster.kubectl("kustomize", str(home / "config" / "default"))
    return [doc for doc in yaml.load_all(text, Loader=yaml.CSafeLoader) if doc]


def of_kinds(objects: list[dict], *kinds: str) -> list[dict]:
    """Copies of the objects of these kinds (the harness edits them)."""
    return [copy.deepcopy(doc) for doc in objects if doc["kind"] in kinds]


def crds(objects: list[dict], base_url: str, ca_bundle: bytes) -> list[dict]:
    """Kueue's CRDs, their conversion webhooks pointed at the loopback Kueue."""
    found = of_kinds(objects, "CustomResourceDefinition")
    for crd in found:
        webhook = crd["spec"].get("conversion", {}).get("webhook")
        if webhook:
            webhook["clientConfig"] = to_loopback(webhook["clientConfig"], base_url, ca_bundle)
    return found


def webhook_configurations(objects: list[dict], base_url: str, ca_bundle: bytes) -> list[dict]:
    """Kueue's (mutating and validating) webhook configurations, pointed at the loopback Kueue."""
    found = of_kinds(objects, *WEBHOOK_KINDS)
    if sorted(doc["kind"] for doc in found) != sorted(WEBHOOK_KINDS):
        raise ComponentError(f"expected one of each of {WEBHOOK_KINDS} in Kueue's config/default")
    for doc in found:
        for webhook in doc["webhooks"]:
            webhook["clientConfig"] = to_loopback(webhook["clientConfig"], base_url, ca_bundle)
    return found


def service_account(objects: list[dict]) -> tuple[str, str]:
    """(namespace, name) of the one ServiceAccount of the module's RBAC, the one Kueue runs as."""
    accounts = of_kinds(objects, "ServiceAccount")
    if len(accounts) != 1:
        raise ComponentError(f"expected one ServiceAccount in Kueue's config/default, found {len(accounts)}")
    return accounts[0]["metadata"]["namespace"], accounts[0]["metadata"]["name"]


def configuration(
    namespace: str,
    webhook_port: int,
    health_port: int,
    metrics_port: int,
    cert_dir: Path,
    wait_for_pods_ready: dict | None,
) -> dict:
    """Kueue's v1beta2 Configuration for one process on loopback, in `namespace` (its own)."""
    config: dict[str, Any] = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": namespace,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        "metrics": {"bindAddress": f"127.0.0.1:{metrics_port}"},
        "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": str(cert_dir)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        # batch/job as in Kueue's own default: in v0.17.0 its webhook (unlike the other
        # integrations') does not turn into a no-op when the integration is off, and then
        # panics on every Job created
        "integrations": {"frameworks": ["batch/job", "kubeflow.org/mpijob"]},
    }
    if wait_for_pods_ready is not None:
        config["waitForPodsReady"] = wait_for_pods_ready
    return config


class Kueue:
    """One Kueue process with its CRDs, RBAC and webhooks on a Cluster, running as its
    ServiceAccount.

    Needs the kubeflow.org MPIJob CRD installed first (any operator's): readiness is a
    server-side dry run of a labelled MPIJob that Kueue's webhook must return suspended.
    """

    def __init__(self, cluster: Cluster, wait_for_pods_ready: dict | None = None) -> None:
        self.cluster = cluster
        self.wait_for_pods_ready = wait_for_pods_ready
        self.process: Process | None = None
        self.webhooks: list[dict] = []
        self.kubeconfig: Path | None = None  # Kueue's own: a token of its ServiceAccount
        self.user = ""  # the user that ServiceAccount authenticates as
        self.log_path: Path | None = None  # kept after stop, for denials()

    def __enter__(self) -> Kueue:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Kueue:
        cluster = self.cluster
        assert cluster.dir is not None
        home = kueue_home()
        objects = module_objects(cluster, home)
        namespace, account = service_account(objects)
        self.user = f"system:serviceaccount:{namespace}:{account}"
        folder = cluster.dir / f"kueue-{free_port()}"
        ca_bundle = serving_certificate(folder / "certs")
        ports = {"webhook": free_port(), "health": free_port(), "metrics": free_port()}
        base_url = f"https://127.0.0.1:{ports['webhook']}"
        config = folder / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                configuration(
                    namespace,
                    ports["webhook"],
                    ports["health"],
                    ports["metrics"],
                    folder / "certs",
                    self.wait_for_pods_ready,
                )
            )
        )
        kinds = crds(objects, base_url, ca_bundle)
        cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            "-o",
            "name",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": kinds}),
        )
        cluster.wait_crds_established([crd["metadata"]["name"] for crd in kinds])
        cluster.apply(*of_kinds(objects, "Namespace"), *of_kinds(objects, *RBAC_KINDS))
        self.kubeconfig = cluster.kubeconfig_for(namespace, account, folder / "kubeconfig")
        for layer in ("upper", "work"):
            (folder / "etc" / layer).mkdir(parents=True)
        argv = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            _PRIVATE_ETC,
            "kueue",
            str(folder / "etc" / "upper"),
            str(folder / "etc" / "work"),
            str(folder / "certs"),
            str(home / "bin" / "kueue"),
            f"--config={config}",
            f"--kubeconfig={self.kubeconfig}",
            # on by default, it starts an API server of its own on :8082
            "--feature-gates=VisibilityOnDemand=false",
        ]
        self.process = cluster.spawn_extra("kueue", argv)
        self.log_path = self.process.log_path
        wait_ready(
            self.process,
            lambda: http_get(f"http://127.0.0.1:{ports['health']}/readyz")[0] == 200,
            "Kueue's /readyz (as root: it runs in a private mount namespace)",
            timeout=90,
        )
        self.webhooks = webhook_configurations(objects, base_url, ca_bundle)
        cluster.apply(*self.webhooks)
        wait_ready(
            self.process, self._suspends_labelled_jobs, "Kueue's MPIJob webhook to suspend a labelled job", timeout=60
        )
        return self

    def _suspends_labelled_jobs(self) -> bool:
        job = probe_mpijob()
        done = self.cluster.kubectl_run(
            "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(job), check=False
        )
        if done.returncode != 0:
            raise ComponentError(f"a dry run of a labelled MPIJob failed: {done.stderr.strip()}")
        return bool(json.loads(done.stdout)["spec"].get("runPolicy", {}).get("suspend"))

    def whoami(self) -> str:
        """The user Kueue's kubeconfig authenticates as, by the API server's SelfSubjectReview."""
        assert self.kubeconfig is not None, "Kueue was not started"
        review = self.cluster.kubectl("auth", "whoami", "-o", "json", f"--kubeconfig={self.kubeconfig}")
        return review["status"]["userInfo"]["username"]

    def denials(self) -> list[str]:
        """The lines of Kueue's log (every run on this cluster: the log is appended to) where
        the API server refused it a request for lack of a permission (RBAC's "User X cannot
        VERB resource"), not the other refusals a 403 carries (e.g. a namespace being deleted)."""
        if self.log_path is None or not self.log_path.exists():
            return []
        denied = re.compile(rf'User \\?"{re.escape(self.user)}\\?" cannot ')
        return [line for line in self.log_path.read_text(errors="replace").splitlines() if denied.search(line)]

    def stop(self) -> None:
        """Webhook configurations first (failurePolicy Fail), then the process."""
        try:
            for doc in self.webhooks:
                self.cluster.kubectl_run(
                    "delete",
                    doc["kind"].lower(),
                    doc["metadata"]["name"],
                    "--ignore-not-found",
                    "--wait=true",
                    check=False,
                )
        finally:
            self.webhooks = []
            if self.process is not None:
                with contextlib.suppress(Exception):
                    self.cluster.stop_extra(self.process)
                self.process = None


def probe_mpijob(namespace: str = "default") -> dict:
    """The smallest MPIJob both APIs (Kubeflow's CRD and mpifn's) accept, labelled for a queue."""
    container = {"name": "main", "image": "mpioperator/mpi-pi:openmpi"}
    role = {"replicas": 1, "template": {"spec": {"containers": [container]}}}
    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": "kueue-webhook-probe", "namespace": namespace, "labels": {QUEUE_LABEL: "probe"}},
        "spec": {"mpiReplicaSpecs": {"Launcher": role, "Worker": role}},
    }


# ---------------------------------------------------------------- the objects tests make


def resource_flavor(
    name: str, node_labels: dict[str, str] | None = None, tolerations: list[dict] | None = None
) -> dict:
    spec: dict[str, Any] = {}
    if node_labels:
        spec["nodeLabels"] = node_labels
    if tolerations:
        spec["tolerations"] = tolerations
    return {"apiVersion": API, "kind": "ResourceFlavor", "metadata": {"name": name}, "spec": spec}


def cluster_queue(name: str, cpus: dict[str, int | str], preemption: dict | None = None) -> dict:
    """A ClusterQueue of every namespace with a cpu quota per flavor (in flavor order)."""
    flavors = [
        {"name": flavor, "resources": [{"name": "cpu", "nominalQuota": count}]} for flavor, count in cpus.items()
    ]
    spec: dict[str, Any] = {
        "namespaceSelector": {},
        "resourceGroups": [{"coveredResources": ["cpu"], "flavors": flavors}],
    }
    if preemption:
        spec["preemption"] = preemption
    return {"apiVersion": API, "kind": "ClusterQueue", "metadata": {"name": name}, "spec": spec}


def local_queue(namespace: str, name: str, cluster_queue_name: str) -> dict:
    return {
        "apiVersion": API,
        "kind": "LocalQueue",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterQueue": cluster_queue_name},
    }


def priority_class(name: str, value: int) -> dict:
    return {"apiVersion": API, "kind": "WorkloadPriorityClass", "metadata": {"name": name}, "value": value}


def condition(obj: dict, kind: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def is_true(obj: dict, kind: str) -> bool:
    found = condition(obj, kind)
    return found is not None and found.get("status") == "True"


def workload_of(cluster: Cluster, namespace: str, job: dict) -> dict | None:
    """The Workload Kueue made for a job (owned by it), or None yet."""
    uid = job["metadata"]["uid"]
    for workload in cluster.get("workloads.kueue.x-k8s.io", namespace=namespace):
        if any(ref.get("uid") == uid for ref in workload["metadata"].get("ownerReferences", [])):
            return workload
    return None


def queues_for(
    cluster: Cluster, namespace: str, queue: str, cpus: dict[str, int | str], preemption: dict | None = None
) -> None:
    """A ClusterQueue named after the namespace with these cpu quotas per flavor, and the
    LocalQueue `queue` in the namespace pointing at it."""
    cluster.apply(cluster_queue(namespace, cpus, preemption), local_queue(namespace, queue, namespace))


# ---------------------------------------------------------------- kubeflow.org MPIJobs under Kueue


def submit(cluster: Cluster, job: dict) -> dict:
    """Create the job (no apply: Kueue's webhook makes the queue label immutable); the stored object."""
    return cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(job))


def get_job(cluster: Cluster, namespace: str, name: str) -> dict:
    return cluster.get(MPIJOBS, name, namespace)


def pods_of(cluster: Cluster, namespace: str, name: str) -> list[dict]:
    """The job's pods (not being deleted), by Kubeflow's job-name label."""
    found = cluster.get("pods", namespace=namespace, selector=f"{JOB_NAME}={name}")
    return [pod for pod in found if not pod["metadata"].get("deletionTimestamp")]


def all_running(cluster: Cluster, namespace: str, name: str) -> list[dict] | None:
    """The job's 3 pods (1 launcher, 2 workers) when each is Running, else None."""
    found = pods_of(cluster, namespace, name)
    return found if len(found) == 3 and all(p["status"].get("phase") == "Running" for p in found) else None


def role_pods(pods: list[dict], role: str) -> list[dict]:
    return [pod for pod in pods if pod["metadata"]["labels"].get(JOB_ROLE) == role]


def succeeded(cluster: Cluster, namespace: str, name: str) -> dict | None:
    job = get_job(cluster, namespace, name)
    return job if is_true(job, "Succeeded") else None


def admitted_workload(cluster: Cluster, namespace: str, job: dict) -> dict | None:
    workload = workload_of(cluster, namespace, job)
    return workload if workload is not None and is_true(workload, "Admitted") else None


def workload_finished(cluster: Cluster, namespace: str, name: str) -> bool:
    return is_true(workload_of(cluster, namespace, get_job(cluster, namespace, name)) or {}, "Finished")


def active(job: dict) -> dict[str, int]:
    """status.replicaStatuses[*].active by role (0 for a role it lists without active)."""
    statuses = (job.get("status") or {}).get("replicaStatuses") or {}
    return {role: int(status.get("active") or 0) for role, status in statuses.items()}


def events_for(cluster: Cluster, namespace: str, name: str, reason: str) -> list[str]:
    items = cluster.kubectl("get", "events", "-n", namespace, "-o", "json")["items"]
    return [
        e.get("message", "") for e in items if e["involvedObject"].get("name") == name and e.get("reason") == reason
    ]


def owned(cluster: Cluster, namespace: str, uid: str, resource: str) -> dict[str, str]:
    """name -> uid of the objects of a resource controlled by the job."""
    return {
        obj["metadata"]["name"]: obj["metadata"]["uid"]
        for obj in cluster.get(resource, namespace=namespace)
        if any(r["uid"] == uid and r.get("controller") for r in obj["metadata"].get("ownerReferences", []))
    }
