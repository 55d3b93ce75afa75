"""kwok, which plays the kubelet of fake nodes and moves their pods through the stages in
``kwok-stages/``, and the fake nodes of a test cluster."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from testkit.kubectl import Kubectl
from testkit.processes import ComponentError, Process, wait_ready

STAGES_DIR = Path(__file__).resolve().parent / "kwok-stages"

# Annotations understood by the stages in kwok-stages/ (for the tests).
ANN_FAIL = "e2e.mpifn.test/fail"  # "true": a running Job pod fails
ANN_EXIT_CODE = "e2e.mpifn.test/exit-code"  # exit code of the failure
ANN_REASON = "e2e.mpifn.test/reason"  # e.g. "OOMKilled"
ANN_HOLD = "e2e.mpifn.test/hold"  # present: a Job pod keeps running
ANN_DELAY = "e2e.mpifn.test/delay"  # e.g. "5s" before complete/fail

FAKE_NODE_LABEL = "e2e.mpifn.test/fake-node"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"


class FakeNodes(Kubectl):
    """kwok started against the cluster, and Nodes it keeps Ready."""

    dir: Path | None
    processes: list[Process]
    node_names: list[str]

    if TYPE_CHECKING:

        def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process: ...

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
