"""Fixtures for the real-control-plane tests (marker ``e2e_k8s``).

- ``k8s_cluster`` (session): etcd, kube-apiserver, kube-controller-manager,
  kube-scheduler and kwok with two fake nodes; stopped at the end.
- ``functions_server`` (session): ``python -m mpifn.serve`` on a free port.
- ``hook_proxy`` (session): the recording proxy in front of the functions
  (testkit/driver.HookProxy); what tests read about hook calls and hook
  errors comes from it, whichever driver runs.
- ``operator`` (session): the manifests of metacontroller/ applied with the
  hook base URL pointed at the proxy, and the driver: the real Metacontroller
  when MPIFN_METACONTROLLER_BIN names one, else the stand-in
  (hookdriver.HookDriver); both follow the shipped CompositeController with a
  resync period of RESYNC_SECONDS.
- ``namespace``: a fresh namespace per test, deleted afterwards.
- ``compositecontroller_kind`` (module): Metacontroller's CompositeController kind (a
  stand-in CRD unless its own is installed) and the functions' namespace mpifn.
- ``mpijob_crd`` (module): every generated CRD (mpifn.dev's and the kubeflow and seed
  Components') applied and Established; the foreign ones deleted afterwards.

A component that cannot start makes the tests that need it fail with the
reason; nothing here skips.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from mpifn.manifests import generated_manifests
from testkit.cluster import Cluster
from testkit.driver import Driver, HookProxy
from testkit.manifests import install_operator, standin_compositecontroller_crd
from testkit.server import serve

from .jobs import fresh_namespace

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


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)  # lets fixtures see whether the test failed
    return report


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
def functions_server(tmp_path_factory):
    # A stuck job's pods are read at once: the suite waits on what they say, not on a grace.
    with serve(tmp_path_factory.mktemp("functions"), {"MPIFN_EXPLAIN_AFTER_SECONDS": "0"}) as server:
        yield server


# The shipped controller has no resync period, so only Metacontroller's cache flush
# (every 30 min) would resync a steady job; both drivers resync every RESYNC_SECONDS instead.
RESYNC_SECONDS = 2


@pytest.fixture(scope="session")
def hook_proxy(functions_server):
    proxy = HookProxy(functions_server.base_url).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def operator(k8s_cluster, hook_proxy):
    """The operator installed as users do, hooks reached through the proxy, driven by
    the real Metacontroller or the stand-in."""
    controllers = install_operator(k8s_cluster, hook_proxy.base_url)
    driver = Driver(k8s_cluster, controllers, hook_proxy, RESYNC_SECONDS).start()
    print(f"\n[e2e_k8s] hooks driven by {driver.kind}", file=sys.stderr)
    try:
        yield driver
    finally:
        driver.stop()


# The MPIJob and MPIJobExplanation CRDs of metacontroller/base and those of the kubeflow and seed Components.
CRDS = [doc for docs in generated_manifests().values() for doc in docs if doc["kind"] == "CustomResourceDefinition"]


@pytest.fixture(scope="module")
def mpijob_crd(k8s_cluster):
    out = k8s_cluster.kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        "-o",
        "json",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": CRDS}),
    )
    items = out.get("items", [out]) if isinstance(out, dict) else []
    crds = [i for i in items if i.get("kind") == "CustomResourceDefinition"]
    assert len(crds) == len(CRDS) == 4, f"applied {len(crds)} of the generated CRDs"
    names = [c["metadata"]["name"] for c in crds]
    k8s_cluster.wait_crds_established(names)
    yield [k8s_cluster.get("crd", name) for name in names]
    # The other suites' `kubectl get mpijob` must keep meaning mpifn.dev's: leave only its CRD.
    foreign = [name for name in names if not name.endswith(".mpifn.dev")]
    k8s_cluster.kubectl("delete", "crd", *foreign, "--wait=true")
    k8s_cluster.kubectl("api-resources")  # refreshes kubectl's discovery cache


@pytest.fixture(scope="module")
def compositecontroller_kind(k8s_cluster):
    """kubectl maps every object of a kustomization before it filters by label, so the
    CompositeController kind must exist, as it does wherever Metacontroller runs. Made here
    (a schema-less stand-in) unless Metacontroller's CRDs are installed, and removed after;
    the dry run also wants the functions' namespace, made once an earlier one being deleted
    is gone, and deleted (waited for) afterwards."""
    crd = standin_compositecontroller_crd()
    name = crd["metadata"]["name"]
    made = k8s_cluster.kubectl_run("get", "crd", name, check=False).returncode != 0
    if made:
        k8s_cluster.apply(crd)
        k8s_cluster.wait_crds_established([name])

    def not_terminating() -> bool:
        namespace = k8s_cluster.get_or_none("namespace", "mpifn")
        return namespace is None or namespace.get("status", {}).get("phase") != "Terminating"

    k8s_cluster.wait_for(not_terminating, "an earlier namespace mpifn to be gone")
    k8s_cluster.create_namespace("mpifn")
    yield
    k8s_cluster.kubectl("delete", "namespace", "mpifn", "--wait=true")
    if made:
        k8s_cluster.kubectl("delete", "crd", name, "--wait=true")
        k8s_cluster.kubectl("api-resources")  # refreshes kubectl's discovery cache


@pytest.fixture
def namespace(k8s_cluster, request):
    yield from fresh_namespace(k8s_cluster, request.node.name)


@pytest.fixture
def driver_report(request, operator, namespace):
    """A failing test shows what went wrong for its namespace (hook errors, SyncError events)."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for error in operator.errors(namespace)[-10:]:
            print(f"[driver] {error[:2000]}")
        for cut in operator.cut_off(namespace)[-10:]:
            print(f"[driver] cut off by a stop of the driver, not counted as an error: {cut[:500]}")
        calls = [c for c in operator.calls if c[1].startswith(f"{namespace}/")]
        print(f"[driver] {operator.kind}: {len(calls)} hook calls for {namespace}, alive: {operator.alive()}")
        for line in operator.log_tail():
            print(f"[driver log] {line[:500]}")
