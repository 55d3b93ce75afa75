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

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

from testkit.credentials import admin_token, service_account_keys, write_kubeconfig
from testkit.kwok import FakeNodes
from testkit.loopback import http_get
from testkit.processes import ProcessGroup, wait_ready
from testkit.server import free_port
from testkit.tools import tool_binary, tool_versions

REPO_ROOT = Path(__file__).resolve().parent.parent

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


def control_plane_binaries() -> dict[str, Path]:
    """etcd, the control plane and kubectl from the tool cache (a missing build fails here)."""
    kubernetes = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    return {"etcd": tool_binary("etcd"), **{name: tool_binary("kubernetes", name) for name in kubernetes}}


Step = tuple[str, Callable[[], object]]


class Cluster(ProcessGroup, FakeNodes):
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. start() resolves
    binaries(), makes the folder (make_dir) and runs start_steps() in order; a subclass
    extends those three (see testkit.node.Node).
    """

    def __init__(self, nodes: int = 2, keep_dir: bool | None = None, extra_args: dict[str, list[str]] | None = None):
        """``extra_args``: more flags for a component, by its name (e.g. "kube-controller-manager")."""
        super().__init__(extra_args)
        self.node_count = nodes
        self.keep_dir = keep_dir if keep_dir is not None else bool(os.environ.get("MPIFN_E2E_KEEP"))
        self.versions = tool_versions()
        self.token = ""
        self.apiserver_port = 0
        self.kubeconfig: Path | None = None
        self.node_names: list[str] = []
        self.apiserver_args: list[str] = []  # appended to kube-apiserver's flags

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def binaries(self) -> dict[str, Path]:
        """Every binary start() runs, resolved first: a missing build is reported before anything starts."""
        return {**control_plane_binaries(), "kwok": tool_binary("kwok")}

    def make_dir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="mpifn-e2e-k8s-"))

    def control_plane_steps(self) -> list[Step]:
        return [
            ("etcd", self._start_etcd),
            ("kube-apiserver", self._start_apiserver),
            ("kube-controller-manager", self._start_controller_manager),
            ("kube-scheduler", self._start_scheduler),
        ]

    def start_steps(self) -> list[Step]:
        return [*self.control_plane_steps(), ("kwok", self._start_kwok), ("fake nodes", self._add_fake_nodes)]

    def start(self) -> Self:
        t0 = time.monotonic()
        self.bin = self.binaries()
        self.dir = self.make_dir()
        try:
            for name, step in self.start_steps():
                self._step(name, step)
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - t0
        return self

    def stop(self) -> None:
        self.stop_processes()
        if self.dir is not None:
            self.keep_logs()
            if not self.keep_dir:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def _add_fake_nodes(self) -> None:
        self.add_nodes(self.node_count)

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
        sa_key, sa_pub = service_account_keys(pki)
        self.sa_key = sa_key
        self.token, tokens = admin_token(pki)
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
        self.kubeconfig = write_kubeconfig(self.dir / "kubeconfig", self.server, self.token)
        wait_ready(
            proc,
            lambda: http_get(f"{self.server}/readyz", self.token)[0] == 200,
            "kube-apiserver /readyz",
            timeout=120,
        )

    def _start_controller_manager(self) -> None:
        self._start_secured(
            "kube-controller-manager",
            [
                f"--controllers={','.join(KCM_CONTROLLERS)}",
                f"--service-account-private-key-file={self.sa_key}",
                f"--root-ca-file={self.dir}/pki/serving/apiserver.crt",
                "--use-service-account-credentials=false",
                "--concurrent-job-syncs=5",
            ],
            timeout=90,
        )

    def _start_scheduler(self) -> None:
        self._start_secured("kube-scheduler", [], timeout=90)

    def _start_secured(self, name: str, flags: list[str], timeout: float) -> None:
        """kube-controller-manager or kube-scheduler: the cluster's kubeconfig for the API and
        for delegated authentication and authorization, /healthz served on a free loopback
        port with a self-signed certificate; returns once /healthz answers."""
        port = free_port()
        proc = self._spawn(
            name,
            [
                str(self.bin[name]),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.dir}/{name}-serving",
                *flags,
                "--leader-elect=false",
                "--v=1",
            ],
        )
        wait_ready(proc, lambda: http_get(f"https://127.0.0.1:{port}/healthz")[0] == 200, f"{name} /healthz", timeout)
