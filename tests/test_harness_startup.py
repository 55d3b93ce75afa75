"""The real node's start-up extends the control plane's (testkit.cluster.Cluster) instead of
copying it: the same binaries and steps in the same order, then the node's own; no kwok and no
fake nodes. Checked without starting anything."""

from pathlib import Path

import pytest

from testkit import cluster, node
from testkit.cluster import Cluster
from testkit.node import Node

NODE_STEPS = ["bridge", "containerd", "images", "coredns", "cgroups", "kubelet", "kube-proxy"]


def names(steps: list) -> list[str]:
    return [name for name, _ in steps]


def test_the_node_runs_the_control_planes_steps_then_its_own():
    assert Node.start is Cluster.start and Node.__enter__ is Cluster.__enter__
    control_plane = names(Cluster().control_plane_steps())
    assert control_plane == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert names(Cluster().start_steps()) == [*control_plane, "kwok", "fake nodes"]
    assert names(Node().start_steps()) == ["host state", *control_plane, *NODE_STEPS]


@pytest.fixture
def cached_tools(monkeypatch):
    """Every tool "built", at a path that names it."""

    def binary(tool: str, name: str | None = None) -> Path:
        return Path("/tools") / tool / (name or tool)

    for module in (cluster, node):
        monkeypatch.setattr(module, "tool_binary", binary)


def test_the_node_resolves_the_control_planes_binaries_and_its_own(cached_tools):
    control_plane = Cluster().binaries()
    assert control_plane["kwok"] == Path("/tools/kwok/kwok")
    own = Node().binaries()
    assert {name: own[name] for name in control_plane if name != "kwok"} == {
        name: path for name, path in control_plane.items() if name != "kwok"
    }
    assert set(own) - set(control_plane) == {"kubelet", "kube-proxy", "crictl", "coredns"}
    assert "kwok" not in own
