"""The Helm chart charts/mpifn (issue 19, item 1) with the real helm (scripts/build-tools.sh).

`helm template` of each values combination gives the objects `kubectl kustomize` builds
from the matching kustomization (deploy/<platform>[-auth], the optional Components the
values turn on, the images as `mpifn overlay` names them), compared as parsed objects. Two
differences are the chart's own and named: the token and probe key Secrets it generates
(auth.createSecrets), and `helm.sh/resource-policy: keep` on the CRDs Components add, so
that turning a Component off never deletes a CRD with its MPIJobs. `helm lint --strict`
passes for every platform. Then on a real kube-apiserver: install, an MPIJob and its
children, an upgrade with other values, a rollback, an uninstall; the running job keeps its
children (same UIDs) throughout. Helm reads only the chart folder: no repository, no
registry; it reaches the apiserver through the harness's kubeconfig.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpifn import chart, manifests
from mpifn.cli import version
from mpifn.manifests import image_overlay
from testkit.cluster import REPO_ROOT, Cluster
from testkit.driver import Driver, metacontroller_crds, real_metacontroller
from testkit.manifests import HOOK_BASE_URL, standin_compositecontroller_crd
from testkit.tools import tool_binary
from tests.support.helm import CHART, Helm, set_json

from .conftest import RESYNC_SECONDS
from .jobs import CHILD_KINDS, TIMEOUT, owned_children, running_job
from .test_kustomizations import kustomize

pytestmark = pytest.mark.e2e_k8s

INDEX = yaml.safe_load((CHART / chart.INDEX).read_text())
PLATFORMS = sorted(manifests.HOOK_TARGETS)
REGISTRY, TAG = "registry.example:5000/team", "1.2.3"
KEEP = "helm.sh/resource-policy"


@pytest.fixture(scope="module")
def helm(tmp_path_factory) -> Helm:
    return Helm(tmp_path_factory.mktemp("helm-home"))


def nested(path: str, value: Any) -> dict[str, Any]:
    *parents, leaf = path.split(".")
    tree: dict[str, Any] = {leaf: value}
    for parent in reversed(parents):
        tree = {parent: tree}
    return tree


def merged(*trees: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tree in trees:
        for key, value in tree.items():
            out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def key(document: dict) -> tuple[str, str, str, str]:
    metadata = document["metadata"]
    return document["apiVersion"], document["kind"], metadata.get("namespace", ""), metadata["name"]


# Each optional Component alone, then one value of each option at once (each choice's first).
OPTIONS = INDEX["options"]
SELECTIONS = [[], *([option] for option in OPTIONS), list({o["path"]: o for o in reversed(OPTIONS)}.values())]
COMBINATIONS = [
    pytest.param(platform, auth, names, id=f"{platform}{'-auth' if auth else ''}+{'+'.join(names) or 'none'}")
    for platform in PLATFORMS
    for auth in (False, True)
    for names in ([o["component"] for o in selection] for selection in SELECTIONS)
]


def kustomize_combination(tmp_path: Path, platform: str, auth: bool, components: list[str]) -> list[dict]:
    """The kustomization the values stand for: deploy/<platform>[-auth] as `mpifn overlay`
    renames its images, with the Components in the chart's order."""
    variant = REPO_ROOT / "deploy" / (platform + ("-auth" if auth else ""))
    kustomization = image_overlay(os.path.relpath(variant, tmp_path), REGISTRY, TAG)
    ordered = [o["component"] for o in OPTIONS if o["component"] in components]
    components_dir = REPO_ROOT / manifests.COMPONENTS_DIR
    kustomization["components"] = [os.path.relpath(components_dir / name, tmp_path) for name in ordered]
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return kustomize(tmp_path)


def chart_values(platform: str, auth: bool, components: list[str]) -> dict[str, Any]:
    chosen = [nested(o["path"], o["adds"]) for o in OPTIONS if o["component"] in components]
    base = {"platform": platform, "auth": {"enabled": auth}, "image": {"registry": REGISTRY, "tag": TAG}}
    return merged(base, *chosen)


def without_the_charts_own(documents: list[dict], platform: str, auth: bool) -> list[dict]:
    """The chart's objects less what only the chart has, each asserted: the Secrets of the auth
    Component (generated) and the keep policy of the CRDs Components add."""
    auth_component = {"openfaas": manifests.OPENFAAS_TOKEN.component}.get(platform, manifests.TOKEN.component)
    expected_secrets = {(s.namespace, s.name) for s in manifests.AUTH_SECRETS[auth_component]} if auth else set()
    secrets = [d for d in documents if d["kind"] == "Secret"]
    assert {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in secrets} == expected_secrets
    shipped_crds = {crd["metadata"]["name"] for crd in yaml.safe_load_all((CHART / "crds" / "mpifn.yaml").read_text())}
    out = []
    for document in documents:
        if document["kind"] == "Secret":
            continue
        if document["kind"] == "CustomResourceDefinition" and document["metadata"]["name"] not in shipped_crds:
            document = json.loads(json.dumps(document))
            annotations = document["metadata"]["annotations"]
            assert annotations.pop(KEEP) == "keep", document["metadata"]["name"]
            if not annotations:
                del document["metadata"]["annotations"]
        out.append(document)
    return out


@pytest.mark.parametrize(("platform", "auth", "components"), COMBINATIONS)
def test_helm_template_gives_the_objects_of_the_matching_kustomization(helm, tmp_path, platform, auth, components):
    charted = without_the_charts_own(helm.template(chart_values(platform, auth, components)), platform, auth)
    built = kustomize_combination(tmp_path, platform, auth, components)
    assert sorted(map(key, charted)) == sorted(map(key, built))
    by_key = {key(d): d for d in built}
    for document in charted:
        assert document == by_key[key(document)], f"differs from kustomize: {key(document)}"


def test_the_defaults_are_deploy_openfaas(helm):
    """values.yaml as shipped: deploy/openfaas/, exactly (no image to rename there)."""
    assert sorted(map(key, helm.template({}))) == sorted(map(key, kustomize(REPO_ROOT / "deploy" / "openfaas")))
    by_key = {key(d): d for d in kustomize(REPO_ROOT / "deploy" / "openfaas")}
    for document in helm.template({}):
        assert document == by_key[key(document)], key(document)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("auth", [False, True])
def test_helm_lint_strict_is_clean(helm, platform, auth):
    every_option = merged(*(nested(o["path"], o["adds"]) for o in reversed(OPTIONS)))
    for values in ({}, every_option):
        result = helm.run("lint", "--strict", str(CHART), *set_json({"platform": platform, **values}),
                          *set_json({"auth": {"enabled": auth}}))  # fmt: skip
        assert "0 chart(s) failed" in result.stdout, result.stdout


def test_resources_set_every_functions_container(helm):
    resources = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "1Gi"}}
    documents = helm.template({"platform": "plain", "resources": resources})
    containers = [
        c for d in documents for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    ]
    assert len(containers) == len(manifests.FUNCTIONS)
    assert all(container["resources"] == resources for container in containers)


def secrets(documents: list[dict]) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d["data"] for d in documents if d["kind"] == "Secret"}


def test_auth_secrets_are_random_per_install_and_only_when_asked(helm):
    first, second = (secrets(helm.template({"platform": "plain", "auth": {"enabled": True}})) for _ in range(2))
    assert set(first) == {manifests.TOKEN.name, manifests.PROBE_KEY.name}
    for name, data in first.items():
        (value,) = data.values()
        assert len(base64.b64decode(value)) >= 32, name  # the probe key needs 16 bytes at least
        assert data != second[name], f"{name}: the same value twice"
    assert not secrets(helm.template({"platform": "plain", "auth": {"enabled": True, "createSecrets": False}}))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"platform": "nomad"}, "/platform"),
        ({"podstatus": False}, "podstatus"),
        ({"gangScheduler": "kueue"}, "/gangScheduler"),
        ({"components": {"no-such-component": True}}, "no-such-component"),
        ({"auth": {"token": "s3cret"}}, "token"),
    ],
)
def test_values_outside_the_schema_are_refused_by_name(helm, values, message):
    result = helm.run("template", "mpifn", str(CHART), *set_json(values), check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr


def test_make_chart_packages_the_chart_for_an_install_without_a_checkout(helm, tmp_path):
    make = ["make", "--no-print-directory", "chart", f"DIST={tmp_path}", f"HELM={tool_binary('helm')}"]
    result = subprocess.run(make, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=helm.env())
    assert result.returncode == 0, result.stderr
    assert [path.name for path in tmp_path.iterdir()] == [f"mpifn-{version()}.tgz"]
    values = {"platform": "knative", "apis": {"kubeflow": True}, "podStatus": False}
    assert helm.template(values, tmp_path / f"mpifn-{version()}.tgz") == helm.template(values)


# --------------------------------------------------------------------------- on the apiserver

POST_RENDERER = """\
apiVersion: v1
name: hook-proxy
version: 0.1.0
type: postrenderer/v1
runtime: subprocess
runtimeConfig:
  platformCommand:
    - command: "${HELM_PLUGIN_DIR}/rewrite.sh"
"""


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """A control plane of its own: the chart must own every object it installs, and the
    suite's cluster holds the same cluster-wide objects, applied by the operator fixture."""
    with Cluster(nodes=1) as cluster:
        yield cluster


@pytest.fixture
def installing_helm(own_cluster, hook_proxy, tmp_path) -> Helm:
    """Helm on the cluster's kubeconfig, with one local post-renderer plugin, the Helm way to
    do what the suite does to kustomize's output: the hooks go to the recording proxy."""
    helm = Helm(tmp_path / "home", own_cluster.kubeconfig)
    plugin = helm.home / "plugins" / "hook-proxy"
    plugin.mkdir(parents=True)
    (plugin / "plugin.yaml").write_text(POST_RENDERER)
    script = plugin / "rewrite.sh"
    script.write_text('#!/bin/sh\nexec sed "s#$1#$2#g"\n')
    script.chmod(0o755)
    return helm


def release(helm: Helm, proxy_url: str, *command: str, values: dict[str, Any] | None = None) -> None:
    rendering = ["--post-renderer", "hook-proxy", "--post-renderer-args", HOOK_BASE_URL,
                 "--post-renderer-args", proxy_url]  # fmt: skip
    helm.run(*command, *(rendering if command[0] != "rollback" else []), *set_json(values or {}))


def controllers(cluster: Cluster) -> list[dict]:
    """The installed CompositeControllers, MPIJob controllers first, as the drivers take them."""
    found = cluster.get("compositecontrollers")
    return sorted(found, key=lambda c: (c["spec"]["parentResource"]["resource"] != "mpijobs", c["metadata"]["name"]))


def uids(children: dict[tuple[str, str], dict]) -> dict[tuple[str, str], str]:
    return {child: obj["metadata"]["uid"] for child, obj in children.items()}


def crds_step_of_an_upgrade(cluster: Cluster, helm: Helm) -> None:
    """README's first upgrade step on the CRDs Helm created, given a newer CRD (one more
    column): `helm show crds CHART | kubectl apply --server-side --force-conflicts -f -`.
    Helm owns their fields (it creates them server-side), so without --force-conflicts
    kubectl is refused."""
    newer = [doc for doc in yaml.safe_load_all(helm.run("show", "crds", str(CHART)).stdout) if doc]
    column = {"name": "Upgraded", "type": "string", "jsonPath": ".status.phase", "priority": 1}
    for crd in newer:
        crd["spec"]["versions"][0].setdefault("additionalPrinterColumns", []).append(column)
    text = yaml.safe_dump_all(newer)
    refused = cluster.kubectl_run("apply", "--server-side", "-f", "-", input=text, check=False)
    assert refused.returncode != 0 and "conflict" in refused.stderr.lower(), refused.stderr
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=text)
    for crd in newer:
        served = cluster.get("crd", crd["metadata"]["name"])["spec"]["versions"][0]["additionalPrinterColumns"]
        assert served[-1] == column, crd["metadata"]["name"]


def test_install_upgrade_rollback_uninstall_keep_a_running_jobs_children(own_cluster, hook_proxy, installing_helm):
    cluster, helm = own_cluster, installing_helm
    real = real_metacontroller()
    cluster.apply(*(metacontroller_crds(real.manifests) if real else [standin_compositecontroller_crd()]))
    cluster.create_namespace(manifests.OPENFAAS_TOKEN.namespace)  # OpenFaaS makes it for its functions
    cluster.create_namespace("jobs")
    first = {"auth": {"enabled": True}}
    release(helm, hook_proxy.base_url, "install", "mpifn", str(CHART), values=first)
    crds = [crd["metadata"]["name"] for crd in yaml.safe_load_all((CHART / "crds" / "mpifn.yaml").read_text())]
    cluster.wait_crds_established(crds)
    token = cluster.get("secret", manifests.OPENFAAS_TOKEN.name, manifests.OPENFAAS_TOKEN.namespace)["data"]
    installed = controllers(cluster)
    assert [c["metadata"]["name"] for c in installed] == [manifests.MAIN_CONTROLLER, manifests.EXPLAIN_CONTROLLER]
    assert all(
        hook["webhook"]["url"].startswith(hook_proxy.base_url) for hook in installed[0]["spec"]["hooks"].values()
    )

    crds_step_of_an_upgrade(cluster, helm)

    driver = Driver(cluster, installed, hook_proxy, RESYNC_SECONDS, installed=True).start()
    try:
        job = running_job(cluster, "jobs")
        parent = f"jobs/{job['metadata']['name']}"
        children = uids(owned_children(cluster, "jobs", job["metadata"]["uid"]))
        assert {kind for kind, _ in children} == set(CHILD_KINDS.values())

        def resynced_keeping_children(what: str) -> None:
            """After a new driver's first answered sync of the job: the same children, still Running."""
            seen = len(hook_proxy.calls_for(parent, "sync", ok=True))
            cluster.wait_for(lambda: len(hook_proxy.calls_for(parent, "sync", ok=True)) > seen, f"a sync {what}")
            assert uids(owned_children(cluster, "jobs", job["metadata"]["uid"])) == children, what
            assert cluster.get("mpijobs.mpifn.dev", "hello", "jobs")["status"]["phase"] == "Running", what

        # An upgrade with other values: no pod status, the kubeflow API on.
        second = {**first, "podStatus": False, "apis": {"kubeflow": True}}
        release(helm, hook_proxy.base_url, "upgrade", "mpifn", str(CHART), values=second)
        upgraded = controllers(cluster)
        assert [c["metadata"]["name"] for c in upgraded] == [
            "mpifn-kubeflow-mpijob", manifests.MAIN_CONTROLLER, manifests.EXPLAIN_CONTROLLER
        ]  # fmt: skip
        assert "customize" not in upgraded[2]["spec"]["hooks"]
        cluster.wait_crds_established(["mpijobs.kubeflow.org"])
        assert cluster.get("secret", manifests.OPENFAAS_TOKEN.name, manifests.OPENFAAS_TOKEN.namespace)["data"] == token
        driver.stop()
        driver = Driver(cluster, upgraded, hook_proxy, RESYNC_SECONDS, installed=True).start()
        resynced_keeping_children("after the upgrade")
        kubeflow = yaml.safe_load((REPO_ROOT / "examples" / "kubeflow-v2beta1.yaml").read_text())
        kubeflow["metadata"]["namespace"] = "jobs"
        cluster.apply(kubeflow)
        kubeflow_uid = cluster.get("mpijobs.kubeflow.org", kubeflow["metadata"]["name"], "jobs")["metadata"]["uid"]
        cluster.wait_for(
            lambda: {kind for kind, _ in owned_children(cluster, "jobs", kubeflow_uid)} == set(CHILD_KINDS.values()),
            "the kubeflow MPIJob's children",
            timeout=TIMEOUT,
        )
        cluster.kubectl("delete", "mpijobs.kubeflow.org", kubeflow["metadata"]["name"], "-n", "jobs", "--wait=true")

        # The rollback: the first release's objects again; the kubeflow CRD stays (keep policy).
        release(helm, hook_proxy.base_url, "rollback", "mpifn", "1")
        rolled_back = controllers(cluster)
        assert [(c["metadata"]["name"], c["spec"]) for c in rolled_back] == [
            (c["metadata"]["name"], c["spec"]) for c in installed
        ]
        assert cluster.get_or_none("crd", "mpijobs.kubeflow.org") is not None
        assert cluster.get("secret", manifests.OPENFAAS_TOKEN.name, manifests.OPENFAAS_TOKEN.namespace)["data"] == token
        driver.stop()
        driver = Driver(cluster, rolled_back, hook_proxy, RESYNC_SECONDS, installed=True).start()
        resynced_keeping_children("after the rollback")
        history = json.loads(helm.run("history", "mpifn", "-o", "json").stdout)
        assert [(r["revision"], r["status"]) for r in history] == [
            (1, "superseded"),
            (2, "superseded"),
            (3, "deployed"),
        ]

        cluster.kubectl("delete", "mpijobs.mpifn.dev", "hello", "-n", "jobs", "--wait=true", timeout=TIMEOUT)
    finally:
        driver.stop()
    helm.run("uninstall", "mpifn", "--wait")
    assert cluster.get("compositecontrollers") == []
    assert not [r for r in cluster.get("clusterroles") if r["metadata"]["name"].startswith("mpifn-")]
    assert cluster.get("secrets", namespace=manifests.OPENFAAS_TOKEN.namespace) == []
    # Helm never deletes what crds/ installed, nor what the keep policy keeps.
    assert all(cluster.get_or_none("crd", name) for name in [*crds, "mpijobs.kubeflow.org"])
