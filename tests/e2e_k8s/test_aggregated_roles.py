"""The aggregated ClusterRoles on a real kube-apiserver (issue 19, item 3).

A user bound in one namespace to the default ClusterRole edit (a RoleBinding, as platform
teams give namespaces to their users) creates MPIJobs of every API mpifn serves, a user
bound to view reads them and cannot create them, and without mpifn's roles neither could
do anything with MPIJobs. Users are impersonated (`kubectl --as`); kube-controller-manager's
clusterrole-aggregation controller fills admin, edit and view from the labelled roles.
"""

from __future__ import annotations

import json

import pytest
import yaml

from mpifn.manifests import AGGREGATE_TO, generated_manifests
from testkit.cluster import REPO_ROOT, Cluster

pytestmark = pytest.mark.e2e_k8s

# Every generated ClusterRole that aggregates: metacontroller/base's and the kubeflow and seed
# Components' (not the metrics Component's, bound to kube-state-metrics alone).
ROLES = [
    doc
    for docs in generated_manifests().values()
    for doc in docs
    if doc["kind"] == "ClusterRole"
    and any(label.startswith(AGGREGATE_TO.format("")) for label in doc["metadata"]["labels"])
]
# One shipped example per MPIJob API, by resource.
JOBS = {
    "mpijobs.mpifn.dev": REPO_ROOT / "examples" / "hello.yaml",
    "mpijobs.kubeflow.org": REPO_ROOT / "examples" / "kubeflow-v2beta1.yaml",
    "mpijobs.skatelescope.org": REPO_ROOT / "examples" / "seed-v1.yaml",
}
EXPLANATIONS = "mpijobexplanations.mpifn.dev"
# user -> the default ClusterRole a RoleBinding gives it in the test's namespace
USERS = {"alice": "edit", "bob": "view", "carol": "admin"}
WRITES = ("create", "update", "patch", "delete")


def can(cluster: Cluster, user: str, verb: str, resource: str, namespace: str, subresource: str = "") -> bool:
    """`kubectl auth can-i VERB RESOURCE --as=USER` (a SubjectAccessReview of the real authorizer)."""
    args = ("auth", "can-i", verb, resource, "-n", namespace, f"--as={user}", f"--subresource={subresource}")
    answer = cluster.kubectl_run(*args, check=False).stdout.strip()
    assert answer in ("yes", "no"), f"kubectl {' '.join(args)}: {answer}"
    return answer == "yes"


def job_text(resource: str, namespace: str) -> str:
    job = yaml.safe_load(JOBS[resource].read_text())
    job["metadata"]["namespace"] = namespace
    return json.dumps(job)


def create_as(cluster: Cluster, user: str, resource: str, namespace: str):
    """`kubectl --as=USER create -f <the API's example>` in `namespace`."""
    return cluster.kubectl_run("create", "-f", "-", f"--as={user}", input=job_text(resource, namespace), check=False)


def aggregated(cluster: Cluster) -> set[str]:
    """The API groups of the rules the default ClusterRoles admin, edit and view hold now."""
    roles = [cluster.get("clusterrole", name) for name in ("admin", "edit", "view")]
    return {group for role in roles for rule in role.get("rules") or [] for group in rule.get("apiGroups", [])}


@pytest.fixture
def users(k8s_cluster, namespace):
    """alice, bob and carol bound in `namespace` alone to edit, view and admin."""
    k8s_cluster.apply(
        *(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": f"{user}-{role}", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            }
            for user, role in USERS.items()
        )
    )
    return namespace


@pytest.fixture
def without_roles(k8s_cluster, mpijob_crd):
    """mpifn's ClusterRoles deleted (the operator fixture installs the base's) until
    admin, edit and view hold nothing of them; yields the function that installs them
    (server-side apply, as users apply the release manifests). Installed again afterwards."""
    groups = {group for role in ROLES for rule in role["rules"] for group in rule["apiGroups"]}
    names = [role["metadata"]["name"] for role in ROLES]
    k8s_cluster.kubectl("delete", "clusterrole", *names, "--ignore-not-found", "--wait=true")
    k8s_cluster.wait_for(lambda: not aggregated(k8s_cluster) & groups, "admin, edit and view without mpifn's rules")

    def install() -> None:
        k8s_cluster.apply_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": ROLES}), server_side=True)
        k8s_cluster.wait_for(lambda: aggregated(k8s_cluster) >= groups, "admin, edit and view to take in mpifn's roles")

    yield install
    install()


def test_without_the_aggregated_roles_no_namespace_user_may_use_mpijobs(k8s_cluster, users, without_roles):
    namespace = users
    for resource in JOBS:
        for user in USERS:
            for verb in ("get", "create"):
                assert not can(k8s_cluster, user, verb, resource, namespace), (user, verb, resource)
        refused = create_as(k8s_cluster, "alice", resource, namespace)
        assert refused.returncode != 0 and "Forbidden" in refused.stderr, (resource, refused.stderr)
    assert not can(k8s_cluster, "bob", "get", EXPLANATIONS, namespace)


def test_namespace_editors_create_and_viewers_read_every_mpijob_api(k8s_cluster, users, without_roles):
    namespace = users
    without_roles()
    for resource in JOBS:
        created = create_as(k8s_cluster, "alice", resource, namespace)
        assert created.returncode == 0, (resource, created.stderr)
        name = yaml.safe_load(JOBS[resource].read_text())["metadata"]["name"]
        # bob reads it, and cannot create, change or delete one
        read = k8s_cluster.kubectl_run("get", resource, name, "-n", namespace, "--as=bob", "-o", "json", check=False)
        assert read.returncode == 0, (resource, read.stderr)
        assert json.loads(read.stdout)["metadata"]["name"] == name
        refused = create_as(k8s_cluster, "bob", resource, namespace)
        assert refused.returncode != 0 and "Forbidden" in refused.stderr, (resource, refused.stderr)
        for verb in WRITES:
            assert not can(k8s_cluster, "bob", verb, resource, namespace), (verb, resource)
        # editors and admins do everything but write the status, which is Metacontroller's
        for user in ("alice", "carol"):
            for verb in ("get", "list", "watch", *WRITES, "deletecollection"):
                assert can(k8s_cluster, user, verb, resource, namespace), (user, verb, resource)
            assert not can(k8s_cluster, user, "update", resource, namespace, subresource="status"), (user, resource)
        # in their namespace only
        for user in USERS:
            assert not can(k8s_cluster, user, "get", resource, "default"), (user, resource)
        deleted = k8s_cluster.kubectl_run("delete", resource, name, "-n", namespace, "--as=alice", check=False)
        assert deleted.returncode == 0, (resource, deleted.stderr)
    # explanations are made by the controllers: everyone reads them, nobody writes them
    for user in USERS:
        assert can(k8s_cluster, user, "list", EXPLANATIONS, namespace), user
        for verb in WRITES:
            assert not can(k8s_cluster, user, verb, EXPLANATIONS, namespace), (user, verb)
