"""Kubeflow's MPI Operator (built by scripts/build-tools.sh mpi-operator) started on a test
Cluster with its own MPIJob CRD, for the suites and bench.race. It binds port 8080 for its
health check and cannot be told another port: one at a time per machine."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml

from testkit.cluster import Cluster
from testkit.loopback import http_get
from testkit.processes import ComponentError, Process
from testkit.tools import tool_binary

KUBEFLOW_HEALTH_PORT = 8080


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
