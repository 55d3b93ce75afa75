"""Fixtures for the real-control-plane tests (marker ``e2e_k8s``).

- ``k8s_cluster`` (session): etcd, kube-apiserver, kube-controller-manager,
  kube-scheduler and kwok with two fake nodes; stopped at the end.
- ``metacontroller`` (session): Metacontroller and its CRDs on that cluster.
- ``functions_server`` (session): ``python -m mpifn.serve`` on a free port.
- ``operator`` (session): all of the above plus the manifests of
  metacontroller/ applied with the hook base URL made local.
- ``namespace``: a fresh namespace per test, deleted afterwards.
- ``faas_cli``: path of the faas-cli built from its Go module.

A component that cannot start makes the tests that need it fail with the
reason; nothing here skips.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from .cluster import Cluster, FunctionsServer, Metacontroller, install_operator, tool_binary

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e_k8s: end-to-end tests against a real kube-apiserver, Metacontroller and kwok "
        "(binaries from scripts/build-tools.sh)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e_k8s)


@pytest.fixture(scope="session")
def k8s_cluster():
    t0 = time.monotonic()
    cluster = Cluster(nodes=int(os.environ.get("MPIFN_E2E_NODES", "2")))
    try:
        cluster.start()
        took = time.monotonic() - t0
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in cluster.timings.items())
        print(f"\n[e2e_k8s] control plane up in {took:.1f}s ({steps})", file=sys.stderr)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def metacontroller(k8s_cluster):
    mc = Metacontroller(k8s_cluster)
    try:
        yield mc.start()
    finally:
        mc.stop()


@pytest.fixture(scope="session")
def functions_server():
    log_dir = Path(tempfile.mkdtemp(prefix="mpifn-e2e-functions-"))
    server = FunctionsServer(log_dir)
    try:
        yield server.start()
    finally:
        server.stop()
        if not os.environ.get("MPIFN_E2E_KEEP"):
            import shutil

            shutil.rmtree(log_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def operator(k8s_cluster, metacontroller, functions_server):
    """The operator installed as users do, hooks served locally."""
    applied = install_operator(k8s_cluster, functions_server.base_url)
    return {"cluster": k8s_cluster, "functions": functions_server, "applied": applied}


@pytest.fixture
def namespace(k8s_cluster, request):
    base = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:5]}"
    k8s_cluster.create_namespace(name)
    yield name
    k8s_cluster.kubectl_run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def faas_cli() -> Path:
    """The faas-cli binary from the tool cache (fails, quoting the build error, if absent)."""
    return tool_binary("faas-cli")
