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
import tempfile
from pathlib import Path
from typing import Protocol

import yaml

from testkit.cluster import REPO_ROOT, Cluster
from testkit.driver import Driver, HookProxy
from testkit.kubeflow import kubeflow_build, start_kubeflow_operator
from testkit.manifests import install_operator
from testkit.processes import Process

KUBEFLOW_COMPONENT = REPO_ROOT / "deploy" / "components" / "kubeflow"


class Operator(Protocol):
    name: str

    def start(self) -> Operator: ...
    def stop(self) -> None: ...
    def alive(self) -> bool: ...


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
