"""Fixtures for the real-node tests (marker ``e2e_node``).

- ``node`` (session): the control plane plus containerd, CoreDNS, kubelet and
  kube-proxy (node.Node); stopped at the end, and the session FAILS if the
  stop left anything on the machine (processes, mounts, netns, the bridge,
  iptables chains, sysctls, cgroups).
- ``metacontroller`` (session): the real Metacontroller installed in the cluster
  from its release manifests when MPIFN_METACONTROLLER_BIN names one
  (in_cluster.py), else only its CompositeController kind for the stand-in.
- ``install`` / ``functions`` (session): mpifn installed with Helm as the README
  says (charts/mpifn, plain variant with auth, the kubeflow.org API too): the three
  functions run as pods from the images built here behind their Services, the CRDs
  are established.
- ``operator`` (session): deploy/plain's CompositeControllers driven by the
  real Metacontroller when MPIFN_METACONTROLLER_BIN names one, installed in the
  cluster from its release manifests (in_cluster.py: a pod calling the functions'
  Services as shipped), else by the stand-in (testkit/driver.py) on the
  machine, its hooks through the recording proxy to each function's Service by
  ClusterIP (it runs outside the cluster's DNS). Probe signing and the hook
  bearer token are on (deploy/components/auth).
- ``namespace``: a fresh namespace per test, deleted afterwards.

A component that cannot start makes the tests fail with the reason; nothing
here skips.
"""

from __future__ import annotations

import copy
import re
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from testkit.containers import project_images
from testkit.driver import Driver, HookProxy, real_metacontroller
from testkit.manifests import standin_compositecontroller_crd
from testkit.node import Node
from testkit.processes import ComponentError
from tests.e2e_k8s.jobs import fresh_namespace
from tests.support.helm import CHART, Helm, set_json

from .in_cluster import InClusterMetacontroller

HERE = Path(__file__).resolve().parent
RESYNC_SECONDS = 2
# How long a launcher's init step waits for its workers (plain/ ships 300 s):
# short, so that the scenarios where workers never answer end soon.
INIT_DEADLINE_SECONDS = 40
FUNCTIONS = ("sync", "finalize", "probe")
# deploy/plain's hooks: the functions' Services.
SERVICE_HOOK = re.compile(r"^http://(sync|finalize|probe)\.mpifn\.svc\.cluster\.local:8080(/.*)?$")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e_node: end-to-end tests on one real node (containerd, kubelet, kube-proxy, CoreDNS)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e_node)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def node():
    started = time.monotonic()
    real_node = Node()
    try:
        real_node.start()
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in real_node.timings.items())
        print(f"\n[e2e_node] node up in {time.monotonic() - started:.1f}s ({steps})", file=sys.stderr)
        yield real_node
    finally:
        real_node.stop()
        left = real_node.leftovers()
        if real_node.stop_errors or left:
            pytest.fail("the real node was not cleaned up:\n  " + "\n  ".join(real_node.stop_errors + left))


def service_url(node: Node, name: str) -> str:
    service = node.get("service", name, "mpifn")
    return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"


@dataclass
class Install:
    functions: dict[str, str]  # function -> its Service URL (ClusterIP)
    controllers: list[dict]  # the installed CompositeControllers, the MPIJob controller first


@pytest.fixture(scope="session")
def metacontroller(node) -> InClusterMetacontroller | None:
    """Metacontroller first, as the README's install order says: the real one from its
    release manifests when MPIFN_METACONTROLLER_BIN names a binary (in_cluster.py); else only
    its CompositeController kind, for the stand-in that drives the hooks from the machine."""
    release = real_metacontroller()
    if release is not None:
        return InClusterMetacontroller(node, release).install()
    crd = standin_compositecontroller_crd()
    node.apply(crd)
    node.wait_crds_established([crd["metadata"]["name"]])
    return None


@pytest.fixture(scope="session")
def install(node, metacontroller) -> Install:
    """mpifn installed as the README says, with Helm: charts/mpifn's plain variant with auth
    (sync signs the launchers' probe requests and the probe verifies them, the hooks carry a
    bearer token; the chart makes both Secrets), the images built here named by the
    registry and tag values. Ready once every function pod is Ready and answers on its
    ClusterIP.

    Then two settings of the sync Deployment change for the suite (kubectl set env): a short
    init deadline, so that the scenarios whose workers never answer end soon, and pods read
    at once for a stuck job (the suite waits on what they say, not on a grace period)."""
    assert node.dir is not None and node.kubeconfig is not None
    helm = Helm(node.dir / "helm", node.kubeconfig)
    image = project_images()[1]  # <registry>/sync:<tag>
    registry, tag = image.rsplit("/", 1)[0], image.rpartition(":")[2]
    values = {
        "platform": "plain",
        "auth": {"enabled": True},
        "image": {"registry": registry, "tag": tag},
        "apis": {"kubeflow": True},  # kubeflow.org MPIJobs too, the API Kueue admits (test_kueue_on_node.py)
    }
    helm.run("install", "mpifn", str(CHART), *set_json(values))
    node.wait_crds_established(
        [c["metadata"]["name"] for c in yaml.safe_load_all((CHART / "crds" / "mpifn.yaml").read_text())]
    )
    node.kubectl(
        "set", "env", "deployment/sync", "-n", "mpifn",
        f"MPIFN_INIT_DEADLINE_SECONDS={INIT_DEADLINE_SECONDS}", "MPIFN_EXPLAIN_AFTER_SECONDS=0",
    )  # fmt: skip
    for name in FUNCTIONS:
        node.kubectl("rollout", "status", f"deployment/{name}", "-n", "mpifn", "--timeout=180s", timeout=200)
    urls = {name: service_url(node, name) for name in FUNCTIONS}
    for name, url in urls.items():  # kube-proxy follows the endpoints a moment after the rollout
        node.wait_for(lambda url=url: answers(f"{url}/_/health"), f"{name} answering on its ClusterIP", timeout=60)
    controllers = sorted(
        node.get("compositecontrollers"),
        key=lambda c: c["spec"]["parentResource"] != {"apiVersion": "mpifn.dev/v1", "resource": "mpijobs"},
    )
    return Install(urls, controllers)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def functions(install) -> dict[str, str]:
    return install.functions


def hooks_through(controller: dict, proxy_url: str) -> dict:
    """The CompositeController with each hook sent to the recording proxy, which forwards it
    to the function's Service by ClusterIP (the driver runs on the machine, outside the
    cluster's DNS)."""
    controller = copy.deepcopy(controller)
    for name, hook in controller["spec"]["hooks"].items():
        match = SERVICE_HOOK.match(hook["webhook"]["url"])
        if match is None:
            raise ComponentError(f"hook {name}: {hook['webhook']['url']} is not the URL of a function's Service")
        hook["webhook"]["url"] = f"{proxy_url}/function/{match.group(1)}{match.group(2) or ''}"
    return controller


@pytest.fixture(scope="session")
def operator(node, install, metacontroller):
    """The installed CompositeControllers driven by the real Metacontroller in the cluster
    (in_cluster.py), or by the stand-in on the machine, its hooks through the recording proxy."""
    if metacontroller is not None:
        driver: InClusterMetacontroller | Driver = metacontroller
        proxy = None
    else:
        proxy = HookProxy({f"/function/{name}": url for name, url in install.functions.items()}).start()
        driver = Driver(node, [hooks_through(c, proxy.base_url) for c in install.controllers], proxy, RESYNC_SECONDS)
    try:
        driver.start(RESYNC_SECONDS)
        print(f"\n[e2e_node] hooks driven by {driver.kind}", file=sys.stderr)
        yield driver
    finally:
        driver.stop()
        if proxy is not None:
            proxy.stop()


@pytest.fixture
def namespace(node, request):
    yield from fresh_namespace(node, request.node.name)
