"""The control plane itself works: a StatefulSet's pods run on kwok's fake nodes."""

from __future__ import annotations

import pytest

from testkit.cluster import Cluster

pytestmark = pytest.mark.e2e_k8s


def test_statefulset_pods_run_on_fake_nodes(k8s_cluster, namespace):
    cluster = k8s_cluster
    labels = {"app": "smoke"}
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "smoke"},
            "spec": {"clusterIP": "None", "selector": labels, "ports": [{"name": "ssh", "port": 2222}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "smoke"},
            "spec": {
                "serviceName": "smoke",
                "replicas": 2,
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "main", "image": "busybox:stable"}]},
                },
            },
        },
        namespace=namespace,
    )

    def both_running():
        pods = cluster.get("pods", namespace=namespace, selector="app=smoke")
        running = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
        return running if len(running) == 2 else None

    pods = cluster.wait_for(both_running, "2 smoke pods Running", timeout=90)

    assert sorted(p["metadata"]["name"] for p in pods) == ["smoke-0", "smoke-1"]
    for pod in pods:
        assert pod["spec"]["nodeName"] in cluster.node_names
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"
        assert pod["status"]["podIP"]

    sts = cluster.wait_for(
        lambda: (s := cluster.get("statefulset", "smoke", namespace)).get("status", {}).get("readyReplicas") == 2 and s,
        "StatefulSet readyReplicas == 2",
        timeout=60,
    )
    assert sts["status"]["replicas"] == 2


def test_fake_nodes_are_ready_and_schedulable(k8s_cluster):
    nodes = {n["metadata"]["name"]: n for n in k8s_cluster.get("nodes")}
    assert set(k8s_cluster.node_names) <= set(nodes)
    for name in k8s_cluster.node_names:
        node = nodes[name]
        conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conditions["Ready"] == "True"
        assert not [t for t in node["spec"].get("taints", []) if t["effect"] in ("NoSchedule", "NoExecute")]


def test_functions_server_answers_health(functions_server):
    from testkit.loopback import http_get

    status, _ = http_get(f"{functions_server.base_url}/_/health")
    assert status == 200


def test_extra_args_reach_the_named_component_only(tmp_path):
    cluster = Cluster(extra_args={"kube-controller-manager": ["--kube-api-qps=100"]})
    cluster.dir = tmp_path
    try:
        kcm = cluster._spawn("kube-controller-manager", ["/bin/true", "--v=1"])
        other = cluster._spawn("kube-scheduler", ["/bin/true", "--v=1"])
        assert (kcm.argv, other.argv) == (["/bin/true", "--v=1", "--kube-api-qps=100"], ["/bin/true", "--v=1"])
    finally:
        cluster.dir = None  # the folder is the test's own
        cluster.stop()
