"""Fixtures for the real-node tests (marker ``e2e_node``).

- ``node`` (session): the control plane plus containerd, CoreDNS, kubelet and
  kube-proxy (node.Node); stopped at the end, and the session FAILS if the
  stop left anything on the machine (processes, mounts, netns, the bridge,
  iptables chains, sysctls, cgroups).
- ``install`` / ``functions`` (session): deploy/plain applied as shipped: the
  three functions run as pods from the function image behind their Services,
  the MPIJob CRD is established.
- ``operator`` (session): deploy/plain's CompositeControllers driven by the
  real Metacontroller when MPIFN_METACONTROLLER_BIN names one, installed in the
  cluster from its release manifests (in_cluster.py: a pod calling the functions'
  Services as shipped), else by the stand-in (tests/support/driver.py) on the
  machine, its hooks through the recording proxy to each function's Service by
  ClusterIP (it runs outside the cluster's DNS). Probe signing and the hook
  bearer token are on (deploy/components/auth).
- ``namespace``: a fresh namespace per test, deleted afterwards.

A component that cannot start makes the tests fail with the reason; nothing
here skips.
"""

from __future__ import annotations

import copy
import os
import re
import secrets
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e_k8s.cluster import REPO_ROOT, ComponentError
from tests.e2e_k8s.jobs import fresh_namespace
from tests.support.driver import Driver, HookProxy, real_metacontroller

from .in_cluster import InClusterMetacontroller
from .node import Node

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
    controllers: list[dict]  # the shipped CompositeControllers, the MPIJob controller first


def plain_with_auth(node: Node) -> list[dict]:
    """deploy/plain with the auth Component: sync signs the launchers' probe requests and the
    probe verifies them (key Secret mpifn/mpifn-probe-key), the hooks carry a bearer token
    (Secret mpifn/mpifn-auth). Both Secrets are made here, as docs/auth.md says."""
    assert node.dir is not None
    folder = node.dir / "install"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(REPO_ROOT / "deploy" / "plain", folder)],
                "components": [os.path.relpath(REPO_ROOT / "deploy" / "components" / "auth", folder)],
            }
        )
    )
    node.create_namespace("mpifn")
    for secret, key in (("mpifn-auth", "token"), ("mpifn-probe-key", "key")):
        node.kubectl(
            "create", "secret", "generic", secret, "-n", "mpifn", f"--from-literal={key}={secrets.token_hex(32)}"
        )
    return [d for d in yaml.safe_load_all(node.kubectl("kustomize", str(folder))) if d]


@pytest.fixture(scope="session")
def install(node) -> Install:
    """deploy/plain (with probe signing and hook tokens) applied as users apply it, once
    every function pod is Ready and answers on its ClusterIP.

    The CompositeController is kept aside for the driver: its kind belongs to
    Metacontroller's own CRDs.
    """
    documents = plain_with_auth(node)
    controllers = sorted(
        (d for d in documents if d["kind"] == "CompositeController"),
        key=lambda c: c["spec"]["parentResource"]["resource"] != "mpijobs",
    )
    (sync,) = [d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "sync"]
    for variable in sync["spec"]["template"]["spec"]["containers"][0]["env"]:
        if variable["name"] == "MPIFN_INIT_DEADLINE_SECONDS":
            variable["value"] = str(INIT_DEADLINE_SECONDS)
    # A stuck job's pods are read at once (the suite waits on what they say, not on a grace).
    sync["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "MPIFN_EXPLAIN_AFTER_SECONDS", "value": "0"}
    )
    out = node.apply(*(d for d in documents if d["kind"] != "CompositeController"))
    node.wait_crds_established([i["metadata"]["name"] for i in out["items"] if i["kind"] == "CustomResourceDefinition"])
    for name in FUNCTIONS:
        node.kubectl("rollout", "status", f"deployment/{name}", "-n", "mpifn", "--timeout=180s", timeout=200)
    urls = {name: service_url(node, name) for name in FUNCTIONS}
    for name, url in urls.items():  # kube-proxy follows the endpoints a moment after the rollout
        node.wait_for(lambda url=url: answers(f"{url}/_/health"), f"{name} answering on its ClusterIP", timeout=60)
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
def operator(node, install):
    """deploy/plain's CompositeControllers driven by the real Metacontroller installed in the
    cluster from its release manifests (MPIFN_METACONTROLLER_BIN, in_cluster.py), or by the
    stand-in on the machine, its hooks through the recording proxy."""
    release = real_metacontroller()
    if release is not None:
        driver: InClusterMetacontroller | Driver = InClusterMetacontroller(
            node, release, install.controllers, RESYNC_SECONDS
        )
        proxy = None
    else:
        proxy = HookProxy({f"/function/{name}": url for name, url in install.functions.items()}).start()
        driver = Driver(node, [hooks_through(c, proxy.base_url) for c in install.controllers], proxy, RESYNC_SECONDS)
    try:
        driver.start()
        print(f"\n[e2e_node] hooks driven by {driver.kind}", file=sys.stderr)
        yield driver
    finally:
        driver.stop()
        if proxy is not None:
            proxy.stop()


@pytest.fixture
def namespace(node, request):
    yield from fresh_namespace(node, request.node.name)
