"""The two operators of kubeflow.org/v2beta1 MPIJobs, each started on a test Cluster.

- ``mpifn``: metacontroller/base with the kubeflow Component (deploy/components/kubeflow),
  hooks reached through a HookProxy, driven by the suite's driver (the stand-in, or the
  real Metacontroller named by MPIFN_METACONTROLLER_BIN).
- ``kubeflow``: Kubeflow's MPI Operator (built by scripts/build-tools.sh mpi-operator)
  with its own MPIJob CRD. It binds port 8080 for its health check and cannot be told
  another port: one at a time per machine.

Both serve the same API on the same CRD name (mpijobs.kubeflow.org): one operator per
cluster.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Protocol

import yaml

from tests.support.driver import Driver, HookProxy

from .cluster import REPO_ROOT, Cluster, ComponentError, Process, http_get, install_operator, tool_binary

KUBEFLOW_HEALTH_PORT = 8080
KUBEFLOW_COMPONENT = REPO_ROOT / "deploy" / "components" / "kubeflow"


class Operator(Protocol):
    name: str

    def start(self) -> Operator: ...
    def stop(self) -> None: ...
    def alive(self) -> bool: ...


def apply_crds(cluster: Cluster, path: Path) -> list[str]:
    """CRDs from a file or the YAML files of a folder, applied server-side (large CRDs exceed
    the annotation a client-side apply writes) and waited for until Established."""
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise ComponentError(f"no YAML in {path}")
    for file in files:
        cluster.apply_text(file.read_text(), server_side=True)
    names = [
        doc["metadata"]["name"]
        for file in files
        for doc in yaml.safe_load_all(file.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]
    cluster.wait_crds_established(names)
    return names


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go's listener: TIME_WAIT is no obstacle
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def kubeflow_build() -> tuple[Path, Path]:
    """Kubeflow's operator binary and its MPIJob CRD, from the tool cache."""
    binary = tool_binary("mpi-operator")
    crd = binary.parent.parent / "crd" / "kubeflow.org_mpijobs.yaml"
    if not crd.is_file():
        raise ComponentError(f"{crd} is missing: run scripts/build-tools.sh mpi-operator again")
    return binary, crd


def start_kubeflow_operator(cluster: Cluster, binary: Path, crd: Path, flags: list[str]) -> Process:
    """Kubeflow's operator on the cluster with its CRD, waited for until healthy."""
    if not port_free(KUBEFLOW_HEALTH_PORT):
        raise ComponentError(
            f"port {KUBEFLOW_HEALTH_PORT} is in use: the Kubeflow operator binds it for its health check "
            "and cannot be told another; stop what listens there"
        )
    apply_crds(cluster, crd)
    cluster.create_namespace("mpi-operator")  # its leader-election lease lives there
    argv = [str(binary), f"--kubeConfig={cluster.kubeconfig}", "--lock-namespace=mpi-operator", *flags]
    process = cluster.spawn_extra("mpi-operator", argv)
    health = f"http://127.0.0.1:{KUBEFLOW_HEALTH_PORT}/healthz"
    cluster.wait_for(lambda: http_get(health)[0] == 200 and process.running(), "the Kubeflow operator's /healthz", 60)
    return process


class KubeflowOperator:
    name = "kubeflow"

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.process: Process | None = None

    def start(self) -> KubeflowOperator:
        self.process = start_kubeflow_operator(self.cluster, *kubeflow_build(), [])
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.cluster.stop_extra(self.process)
            self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.running()


def with_kubeflow_component(folder: Path) -> Path:
    """A kustomization in folder: metacontroller/base with the kubeflow Component."""
    relative = lambda path: os.path.relpath(path, folder)  # noqa: E731 - kustomize refuses absolute paths
    kustomization = {
        "resources": [relative(REPO_ROOT / "metacontroller" / "base")],
        "components": [relative(KUBEFLOW_COMPONENT)],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return folder


class MpifnOperator:
    """mpifn's kubeflow.org API: every shipped controller, driven as in the rest of the suite."""

    name = "mpifn"

    def __init__(self, cluster: Cluster, proxy: HookProxy, resync_seconds: int) -> None:
        self.cluster, self.proxy, self.resync_seconds = cluster, proxy, resync_seconds
        self.driver: Driver | None = None

    def start(self) -> MpifnOperator:
        with tempfile.TemporaryDirectory(prefix="mpifn-kubeflow-") as folder:
            controllers = install_operator(self.cluster, self.proxy.base_url, with_kubeflow_component(Path(folder)))
        self.driver = Driver(self.cluster, controllers, self.proxy, self.resync_seconds).start()
        return self

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.stop()
            self.driver = None

    def alive(self) -> bool:
        return self.driver is not None and self.driver.alive()
