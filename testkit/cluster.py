"""A real, throw-away Kubernetes control plane on loopback for the e2e tests.

Components (binaries built by scripts/build-tools.sh into the tool cache):

- etcd,
- kube-apiserver (self-signed serving cert, static admin token, RBAC,
  a generated service-account signing key),
- kube-controller-manager (namespace, garbage collector, service accounts,
  Job, StatefulSet, ... controllers),
- kube-scheduler,
- kwok, which plays the kubelet of fake nodes and moves pods through the
  stages in ``kwok-stages/``.

Metacontroller is not one of them: testkit/driver.py runs the binary
named by MPIFN_METACONTROLLER_BIN, or the stand-in ``hookdriver.py``.

Everything listens on 127.0.0.1 on free ports, lives in one temporary folder
and is stopped (and the folder removed) by :meth:`Cluster.stop`, which is
safe to call after a partial start. Every wait is bounded in time and count.
A component that cannot start raises :class:`ComponentError` naming the
component and quoting the end of its log: tests fail, they never skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from testkit.server import free_port

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
STAGES_DIR = HERE / "kwok-stages"

# Same defaults as scripts/build-tools.sh; the cache's versions.txt (written
# by that script) wins over these, and the environment wins over both.
DEFAULT_VERSIONS = {
    "etcd": "v3.6.16",
    "kubernetes": "v1.36.3",
    "kwok": "v0.8.0",
    "crictl": "v1.37.0",
    "coredns": "v1.15.0",
    "kube-state-metrics": "v2.20.0",
    "helm": "v4.3.2",
    "mpi-operator": "v0.8.0",
    "kueue": "v0.17.0",
}
VERSION_ENV = {
    "etcd": "ETCD_VERSION",
    "kubernetes": "KUBERNETES_VERSION",
    "kwok": "KWOK_VERSION",
    "crictl": "CRICTL_VERSION",
    "coredns": "COREDNS_VERSION",
    "kube-state-metrics": "KUBE_STATE_METRICS_VERSION",
    "helm": "HELM_VERSION",
    "mpi-operator": "MPI_OPERATOR_VERSION",
    "kueue": "KUEUE_VERSION",
}

# Annotations understood by the stages in kwok-stages/ (for the tests).
ANN_FAIL = "e2e.mpifn.test/fail"  # "true": a running Job pod fails
ANN_EXIT_CODE = "e2e.mpifn.test/exit-code"  # exit code of the failure
ANN_REASON = "e2e.mpifn.test/reason"  # e.g. "OOMKilled"
ANN_HOLD = "e2e.mpifn.test/hold"  # present: a Job pod keeps running
ANN_DELAY = "e2e.mpifn.test/delay"  # e.g. "5s" before complete/fail

FAKE_NODE_LABEL = "e2e.mpifn.test/fake-node"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"

KCM_CONTROLLERS = [
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "job-controller",
    "ttl-after-finished-controller",
    "statefulset-controller",
    "replicaset-controller",
    "deployment-controller",
    "endpointslice-controller",
    "disruption-controller",
    "pod-garbage-collector-controller",
    # lifts the node.kubernetes.io/not-ready taint that admission puts on
    # every new node once kwok reports it Ready
    "node-lifecycle-controller",
    "taint-eviction-controller",
    # fills the default ClusterRoles admin, edit and view with the roles labelled to aggregate to them
    "clusterrole-aggregation-controller",
]


class ComponentError(RuntimeError):
    """A component could not start, or died; the message says which and why."""


class KubectlError(RuntimeError):
    def __init__(self, args: list[str], returncode: int, stdout: str, stderr: str):
        self.args_ = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(f"kubectl {' '.join(args)} exited {returncode}: {stderr.strip() or stdout.strip()}")


# --------------------------------------------------------------------------
# small helpers


def tools_root() -> Path:
    return Path(os.environ.get("MPIFN_TOOLS_DIR") or Path.home() / ".cache" / "mpifn-tools")


def tool_versions(root: Path | None = None) -> dict[str, str]:
    root = root or tools_root()
    versions = dict(DEFAULT_VERSIONS)
    vfile = root / "versions.txt"
    if vfile.is_file():
        for line in vfile.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() in versions and value.strip():
                versions[key.strip()] = value.strip()
    for tool, env in VERSION_ENV.items():
        if os.environ.get(env):
            versions[tool] = os.environ[env]
    return versions


def tool_binary(tool: str, binary: str | None = None) -> Path:
    """Path of a cached binary; ComponentError if it was never built."""
    root = tools_root()
    version = tool_versions(root)[tool]
    path = root / f"{tool}-{version}" / "bin" / (binary or tool)
    if not (path.is_file() and os.access(path, os.X_OK)):
        why = ""
        err = root / f"{tool}-{version}.build-error"
        if err.is_file():
            why = "\n" + err.read_text(errors="replace").strip()
        raise ComponentError(
            f"{binary or tool} {version} is not built: {path} is missing. "
            f"Run scripts/build-tools.sh {tool} (see tests/e2e_k8s/README.md).{why}"
        )
    return path


def wait_until(
    check: Callable[[], Any],
    what: str,
    timeout: float = 60.0,
    interval: float = 0.25,
    alive: Callable[[], None] | None = None,
) -> Any:
    """Call ``check`` until it returns a truthy value; bounded in time and count.

    ``alive`` is called before each try and may raise (e.g. a process died).
    Exceptions from ``check`` count as "not yet"; the last one is reported.
    """
    deadline = time.monotonic() + timeout
    max_tries = int(timeout / interval) + 2
    last_exc: BaseException | None = None
    for _ in range(max_tries):
        if alive is not None:
            alive()
        try:
            result = check()
            if result:
                return result
        except Exception as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    detail = f" (last error: {last_exc!r})" if last_exc else ""
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


# TLS to the test control plane on loopback, whose certificates are made per run: not verified.
INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


def http_get(url: str, token: str | None = None, timeout: float = 3.0) -> tuple[int, str]:
    """GET a loopback URL; returns (status, body). Never follows other hosts."""
    if not url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
        raise ValueError(f"refusing non-loopback URL {url}")
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    ctx = INSECURE if url.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


# --------------------------------------------------------------------------
# processes


def _die_with_parent() -> None:  # runs in the child between fork and exec
    """Linux: SIGKILL the child when the test process dies, however it dies."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


@dataclass
class Process:
    """One started program with its log file."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log = log
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # own process group: stop() ends all of it
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            log.close()
            raise ComponentError(f"{self.name}: cannot execute {self.argv[0]}: {exc}") from exc

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.popen is None:
            raise ComponentError(f"{self.name} was never started")
        code = self.popen.poll()
        if code is not None:
            raise ComponentError(
                f"{self.name} exited with code {code}; last lines of {self.log_path}:\n{self.log_tail()}"
            )

    def stop(self, grace: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=grace)
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()


def wait_ready(proc: Process, check: Callable[[], Any], what: str, timeout: float) -> Any:
    """wait_until with the process's liveness and log in the error message."""
    try:
        return wait_until(check, what, timeout=timeout, alive=proc.check_alive)
    except TimeoutError as exc:
        raise ComponentError(f"{proc.name}: {exc}; last lines of {proc.log_path}:\n{proc.log_tail()}") from exc


# --------------------------------------------------------------------------
# the cluster


def control_plane_binaries() -> dict[str, Path]:
    """etcd, the control plane and kubectl from the tool cache (a missing build fails here)."""
    kubernetes = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    return {"etcd": tool_binary("etcd"), **{name: tool_binary("kubernetes", name) for name in kubernetes}}


class Cluster:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, nodes: int = 2, keep_dir: bool | None = None, extra_args: dict[str, list[str]] | None = None):
        """``extra_args``: more flags for a component, by its name (e.g. "kube-controller-manager")."""
        self.node_count = nodes
        self.extra_args = extra_args or {}
        self.keep_dir = keep_dir if keep_dir is not None else bool(os.environ.get("MPIFN_E2E_KEEP"))
        self.versions = tool_versions()
        self.dir: Path | None = None
        self.processes: list[Process] = []
        self.token = ""
        self.apiserver_port = 0
        self.kubeconfig: Path | None = None
        self.node_names: list[str] = []
        self.timings: dict[str, float] = {}
        self.extra: list[Process] = []  # started later against this cluster
        self.apiserver_args: list[str] = []  # appended to kube-apiserver's flags

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Cluster:
        t0 = time.monotonic()
        # resolve every binary first: a missing build is reported before anything starts
        self.bin = {**control_plane_binaries(), "kwok": tool_binary("kwok")}
        self.dir = Path(tempfile.mkdtemp(prefix="mpifn-e2e-k8s-"))
        try:
            self._step("etcd", self._start_etcd)
            self._step("kube-apiserver", self._start_apiserver)
            self._step("kube-controller-manager", self._start_controller_manager)
            self._step("kube-scheduler", self._start_scheduler)
            self._step("kwok", self._start_kwok)
            self._step("fake nodes", lambda: self.add_nodes(self.node_count))
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - t0
        return self

    def stop(self) -> None:
        for proc in reversed(self.extra + self.processes):
            with contextlib.suppress(Exception):
                proc.stop()
        self.extra.clear()
        self.processes.clear()
        if self.dir is not None:
            log_dir = os.environ.get("MPIFN_E2E_LOG_DIR")
            if log_dir:
                dest = Path(log_dir) / self.dir.name  # a folder per cluster: a suite may start several
                dest.mkdir(parents=True, exist_ok=True)
                for log in (self.dir / "logs").glob("*.log"):
                    shutil.copy2(log, dest / log.name)
            if not self.keep_dir:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def _step(self, name: str, fn: Callable[[], object]) -> None:
        t = time.monotonic()
        fn()
        self.timings[name] = time.monotonic() - t

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        assert self.dir is not None
        argv = [*argv, *self.extra_args.get(name, [])]
        proc = Process(name, argv, self.dir / "logs" / f"{name}.log", env=env, cwd=self.dir)
        proc.start()
        self.processes.append(proc)
        return proc

    def logs(self) -> dict[str, Path]:
        return {p.name: p.log_path for p in self.processes + self.extra}

    def check_alive(self) -> None:
        for proc in self.processes + self.extra:
            proc.check_alive()

    # -- components --------------------------------------------------------

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        proc = self._spawn(
            "etcd",
            [
                str(self.bin["etcd"]),
                "--name=e2e",
                f"--data-dir={self.dir}/etcd",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=e2e=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        wait_ready(
            proc,
            lambda: http_get(f"{self.etcd_url}/health")[1].find('"true"') >= 0,
            "etcd /health",
            timeout=60,
        )

    def _start_apiserver(self) -> None:
        assert self.dir is not None
        pki = self.dir / "pki"
        pki.mkdir()
        sa_key, sa_pub = pki / "sa.key", pki / "sa.pub"
        run_tool(["openssl", "genrsa", "-out", str(sa_key), "2048"], "openssl genrsa")
        run_tool(["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)], "openssl rsa -pubout")
        self.sa_key = sa_key
        self.token = os.urandom(16).hex()
        tokens = pki / "tokens.csv"
        tokens.write_text(f'{self.token},e2e-admin,e2e-admin,"system:masters"\n')
        tokens.chmod(0o600)
        self.apiserver_port = free_port()
        self.server = f"https://127.0.0.1:{self.apiserver_port}"
        proc = self._spawn(
            "kube-apiserver",
            [
                str(self.bin["kube-apiserver"]),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--cert-dir={pki}/serving",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--anonymous-auth=false",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
                *self.apiserver_args,
            ],
        )
        self._write_kubeconfig()
        wait_ready(
            proc,
            lambda: http_get(f"{self.server}/readyz", self.token)[0] == 200,
            "kube-apiserver /readyz",
            timeout=120,
        )

    def _write_kubeconfig(self) -> None:
        assert self.dir is not None
        self.kubeconfig = self.dir / "kubeconfig"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "e2e", "cluster": {"server": self.server, "insecure-skip-tls-verify": True}}],
            "users": [{"name": "e2e-admin", "user": {"token": self.token}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e-admin"}}],
            "current-context": "e2e",
        }
        # JSON is valid YAML, and kubeconfig loaders read either
        self.kubeconfig.write_text(json.dumps(config, indent=2))
        self.kubeconfig.chmod(0o600)

    def _start_controller_manager(self) -> None:
        port = free_port()
        proc = self._spawn(
            "kube-controller-manager",
            [
                str(self.bin["kube-controller-manager"]),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.dir}/kcm-serving",
                f"--controllers={','.join(KCM_CONTROLLERS)}",
                f"--service-account-private-key-file={self.sa_key}",
                f"--root-ca-file={self.dir}/pki/serving/apiserver.crt",
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                "--concurrent-job-syncs=5",
                "--v=1",
            ],
        )
        wait_ready(
            proc,
            lambda: http_get(f"https://127.0.0.1:{port}/healthz")[0] == 200,
            "kube-controller-manager /healthz",
            timeout=90,
        )

    def _start_scheduler(self) -> None:
        port = free_port()
        proc = self._spawn(
            "kube-scheduler",
            [
                str(self.bin["kube-scheduler"]),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.dir}/scheduler-serving",
                "--leader-elect=false",
                "--v=1",
            ],
        )
        wait_ready(
            proc,
            lambda: http_get(f"https://127.0.0.1:{port}/healthz")[0] == 200,
            "kube-scheduler /healthz",
            timeout=90,
        )

    def _start_kwok(self) -> None:
        assert self.dir is not None
        stages = sorted(STAGES_DIR.glob("*.yaml"))
        if not stages:
            raise ComponentError(f"kwok: no stage files in {STAGES_DIR}")
        home = self.dir / "kwok-home"  # kwok reads ~/.kwok/kwok.yaml: keep the real one out
        home.mkdir()
        env = dict(os.environ, HOME=str(home))
        argv = [
            str(self.bin["kwok"]),
            f"--kubeconfig={self.kubeconfig}",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            "--node-ip=127.0.0.1",
            "--cidr=10.244.0.0/16",
            "--node-lease-duration-seconds=40",
        ]
        for stage in stages:
            argv.append(f"--config={stage}")
        self._spawn("kwok", argv, env=env)

    # -- nodes -------------------------------------------------------------

    def add_nodes(self, count: int, wait: bool = True) -> list[str]:
        names = []
        for _ in range(count):
            names.append(self.add_node(wait=False))
        if wait:
            for name in names:
                self.wait_node_ready(name)
        return names

    def add_node(self, name: str | None = None, wait: bool = True, labels: dict[str, str] | None = None) -> str:
        name = name or f"kwok-node-{len(self.node_names)}"
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                    FAKE_NODE_LABEL: "true",
                    **(labels or {}),
                },
            },
            "spec": {},
        }
        self.apply(node)
        self.node_names.append(name)
        if wait:
            self.wait_node_ready(name)
        return name

    def delete_node(self, name: str) -> None:
        self.kubectl("delete", "node", name, "--wait=true", "--timeout=60s")
        if name in self.node_names:
            self.node_names.remove(name)

    def wait_node_ready(self, name: str, timeout: float = 60) -> None:
        kwok = next(p for p in self.processes if p.name == "kwok")

        def ready() -> bool:
            node = self.kubectl("get", "node", name, "-o", "json")
            is_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in node.get("status", {}).get("conditions", [])
            )
            taints = [t.get("key") for t in node.get("spec", {}).get("taints", [])]
            return is_ready and "node.kubernetes.io/not-ready" not in taints

        wait_ready(kwok, ready, f"fake node {name} to become Ready and untainted", timeout=timeout)

    # -- kubectl -----------------------------------------------------------

    def kubectl_run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        if self.kubeconfig is None:
            raise ComponentError("the cluster is not started")
        argv = [str(self.bin["kubectl"]), f"--kubeconfig={self.kubeconfig}", "--request-timeout=60s", *args]
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise KubectlError(list(args), proc.returncode, proc.stdout, proc.stderr)
        return proc

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120) -> Any:
        """Run kubectl; returns the parsed JSON output, or the text if it is not JSON."""
        out = self.kubectl_run(*args, input=input, check=check, timeout=timeout).stdout
        stripped = out.strip()
        if stripped.startswith(("{", "[")):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError:
                pass
        return out

    def get(self, kind: str, name: str | None = None, namespace: str | None = None, **selectors: str) -> Any:
        """``kubectl get -o json``; with a name: the object, else the list's items."""
        args = ["get", kind]
        if name:
            args.append(name)
        if namespace:
            args += ["-n", namespace]
        for key, value in selectors.items():
            args += [f"--{key.replace('_', '-')}={value}"]
        out = self.kubectl(*args, "-o", "json")
        return out if name else out.get("items", [])

    def get_or_none(self, kind: str, name: str, namespace: str | None = None) -> Any:
        args = ["get", kind, name, "--ignore-not-found", "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        out = self.kubectl(*args)
        return out if isinstance(out, dict) else None

    def apply(self, *objects: dict, namespace: str | None = None) -> Any:
        """kubectl apply of Python objects (sent as a JSON List)."""
        doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        args = ["apply", "-f", "-", "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        return self.kubectl(*args, input=json.dumps(doc))

    def apply_text(self, text: str, namespace: str | None = None, server_side: bool = False) -> Any:
        args = ["apply", "-f", "-", "-o", "json"]
        if server_side:
            args.append("--server-side")
        if namespace:
            args += ["-n", namespace]
        return self.kubectl(*args, input=text)

    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> dict:
        return self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 60, interval: float = 0.5) -> Any:
        """Bounded wait that also fails at once if any component died."""
        return wait_until(check, what, timeout=timeout, interval=interval, alive=self.check_alive)

    def wait_crds_established(self, names: list[str], timeout: float = 60) -> None:
        """Each CRD's Established condition True. Read, not `kubectl wait`: that fails at
        once while a new CRD has no conditions yet (large CRDs take a moment to get them)."""

        def established(name: str) -> bool:
            conditions = (self.get("crd", name).get("status") or {}).get("conditions") or []
            return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

        for name in names:
            self.wait_for(partial(established, name), f"CRD {name} Established", timeout=timeout)

    # -- extra components started against this cluster ----------------------

    def spawn_extra(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Process:
        assert self.dir is not None
        proc = Process(name, argv, self.dir / "logs" / f"{name}.log", env=env, cwd=cwd or self.dir)
        proc.start()
        self.extra.append(proc)
        return proc

    def stop_extra(self, proc: Process) -> None:
        proc.stop()
        if proc in self.extra:
            self.extra.remove(proc)


def standin_compositecontroller_crd() -> dict:
    """Metacontroller's CompositeController kind without a schema, for clusters where
    Metacontroller's own CRDs are not installed (kubectl and Helm map every object's kind)."""
    names = {"kind": "CompositeController", "listKind": "CompositeControllerList",
             "plural": "compositecontrollers", "singular": "compositecontroller"}  # fmt: skip
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    version = {"name": "v1alpha1", "served": True, "storage": True, "schema": schema}
    # A *.k8s.io group needs this annotation, as Metacontroller's own CRDs carry it.
    approval = {"api-approved.kubernetes.io": "unapproved, request not yet submitted"}
    spec = {"group": "metacontroller.k8s.io", "scope": "Cluster", "names": names, "versions": [version]}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"compositecontrollers.{spec['group']}", "annotations": approval},
            "spec": spec}  # fmt: skip


def run_tool(argv: list[str], what: str) -> None:
    """Run a command-line tool to completion; a ComponentError naming `what` if it is missing or fails."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError as exc:
        raise ComponentError(f"{what}: {argv[0]} is not installed ({exc})") from exc
    if proc.returncode != 0:
        raise ComponentError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()}")


# --------------------------------------------------------------------------
# the project's functions, served locally


HOOK_BASE_URL = "http://gateway.openfaas:8080"


def operator_manifests(cluster: Cluster, base_url: str, directory: Path | None = None) -> str:
    """``kubectl kustomize metacontroller/`` with the hook base URL made local."""
    directory = directory or REPO_ROOT / "metacontroller"
    if not (directory / "kustomization.yaml").is_file() and not (directory / "kustomization.yml").is_file():
        raise ComponentError(f"no kustomization in {directory}: the operator's manifests are missing")
    text = cluster.kubectl("kustomize", str(directory))
    if not isinstance(text, str) or HOOK_BASE_URL not in text:
        raise ComponentError(f"the manifests of {directory} never mention the hook base URL {HOOK_BASE_URL}")
    return text.replace(HOOK_BASE_URL, base_url.rstrip("/"))


def install_operator(cluster: Cluster, base_url: str, directory: Path | None = None) -> list[dict]:
    """Apply the manifests in metacontroller/, hooks pointed at base_url; return the
    CompositeControllers, the MPIJob controller first.

    Everything but the CompositeControllers is applied as shipped (and the CRDs
    it defines waited for until Established). The CompositeControllers, as
    shipped but for the hook base URL, are returned for the driver: the real
    Metacontroller applies them after its own CRDs, the stand-in follows them.
    """
    import yaml

    docs = [d for d in yaml.safe_load_all(operator_manifests(cluster, base_url, directory)) if d]

    def parent(controller: dict) -> str:
        resource = controller["spec"]["parentResource"]
        return f"{resource['resource']}.{resource['apiVersion'].split('/')[0]}"

    # the mpifn.dev MPIJob controller first, then the explain controller, then any API Component's
    controllers = sorted(
        (d for d in docs if d.get("kind") == "CompositeController"),
        key=lambda c: (parent(c) != "mpijobs.mpifn.dev", parent(c) != "mpijobexplanations.mpifn.dev"),
    )
    parents = [parent(c) for c in controllers]
    if parents[:2] not in (["mpijobs.mpifn.dev", "mpijobexplanations.mpifn.dev"], ["mpijobs.mpifn.dev"]):
        raise ComponentError(
            f"expected the MPIJob controller and the explain controller in {directory or 'metacontroller/'}, "
            f"found controllers of {parents}"
        )
    out = cluster.apply(*(d for d in docs if d.get("kind") != "CompositeController"))
    items = out.get("items", [out]) if isinstance(out, dict) else []
    crds = [i["metadata"]["name"] for i in items if i.get("kind") == "CustomResourceDefinition"]
    cluster.wait_crds_established(crds)
    return controllers
