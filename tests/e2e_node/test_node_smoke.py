"""The node itself: a pod runs from the project's image with the cluster's DNS,
and the functions answer through their Services."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from testkit.containers import project_images
from testkit.node import NODE_IP, NODE_NAME

pytestmark = pytest.mark.e2e_node

MPIBASE = project_images()[0]


def run_pod(node, namespace: str, name: str, script: str, timeout: float = 120) -> tuple[dict, str]:
    """Run one pod from the mpibase image to completion; (pod, its log)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": MPIBASE, "command": ["sh", "-c", script]}],
        },
    }
    node.apply(pod)
    done = node.wait_for(
        lambda: (p := node.get("pod", name, namespace))["status"].get("phase") in ("Succeeded", "Failed") and p,
        f"pod {name} to finish",
        timeout=timeout,
    )
    return done, node.kubectl("logs", "-n", namespace, name)


def test_a_pod_runs_as_the_image_user_with_the_cluster_dns(node, namespace):
    pod, log = run_pod(
        node,
        namespace,
        "smoke",
        "id -u; cat /etc/resolv.conf; getent hosts kubernetes.default.svc.cluster.local; echo done",
    )
    assert pod["status"]["phase"] == "Succeeded", log
    assert pod["spec"]["nodeName"] == NODE_NAME
    (state,) = pod["status"]["containerStatuses"]
    assert state["state"]["terminated"]["exitCode"] == 0
    lines = log.splitlines()
    assert lines[0] == "1000", "mpibase runs as its non-root user"
    assert f"nameserver {NODE_IP}" in lines, "pods resolve through the node's CoreDNS"
    assert [line for line in lines if line.startswith("nameserver")] == [f"nameserver {NODE_IP}"], (
        "no other resolver, the machine's own least of all"
    )
    kubernetes = node.get("service", "kubernetes", "default")["spec"]["clusterIP"]
    assert any(line.split()[:1] == [kubernetes] for line in lines), f"CoreDNS answers Service names: {log}"
    # the container really ran in containerd on this node
    listed = json.loads(node.crictl("ps", "-a", "--name", "main", "-o", "json").stdout)["containers"]
    assert any(c["labels"].get("io.kubernetes.pod.namespace") == namespace for c in listed)


def test_a_pod_reads_the_api_through_the_kubernetes_service_with_its_own_token(node, namespace):
    """In-cluster controllers (Metacontroller, Kueue, kube-state-metrics) need this path: the
    `kubernetes` Service's ClusterIP, the API server's certificate verified against the CA
    every namespace gets (kube-root-ca.crt), the pod's ServiceAccount token authenticated
    and authorised by RBAC."""
    endpoints = node.get("endpointslices", namespace="default", selector="kubernetes.io/service-name=kubernetes")
    assert [a for s in endpoints for e in s["endpoints"] for a in e["addresses"]] == [NODE_IP]
    node.kubectl(
        "create",
        "role",
        "read-root-ca",
        "-n",
        namespace,
        "--verb=get",
        "--resource=configmaps",
        "--resource-name=kube-root-ca.crt",
    )
    node.kubectl(
        "create",
        "rolebinding",
        "read-root-ca",
        "-n",
        namespace,
        "--role=read-root-ca",
        f"--serviceaccount={namespace}:default",
    )
    account = "/var/run/secrets/kubernetes.io/serviceaccount"
    api = "https://kubernetes.default.svc"
    curl = f'curl -sS --cacert {account}/ca.crt -H "Authorization: Bearer $(cat {account}/token)"'
    pod, log = run_pod(
        node,
        namespace,
        "reach-api",
        f"{curl} -w ' %{{http_code}}\\n' {api}/api/v1/namespaces/{namespace}/configmaps/kube-root-ca.crt"
        f" | tail -c 40; {curl} -o /dev/null -w '%{{http_code}}\\n' {api}/api/v1/namespaces/{namespace}/secrets",
    )
    assert pod["status"]["phase"] == "Succeeded", log
    granted, refused = log.strip().splitlines()[-2:]
    assert granted.endswith(" 200"), f"the granted read answers 200 over verified TLS: {log}"
    assert refused == "403", f"what RBAC does not grant is refused for this ServiceAccount: {log}"


def test_the_functions_answer_through_their_services(node, functions):
    for name, url in functions.items():
        with urllib.request.urlopen(f"{url}/_/health", timeout=5) as response:
            assert response.status == 200, name
    pods = node.get("pods", namespace="mpifn")
    assert sorted(p["metadata"]["labels"]["app.kubernetes.io/name"] for p in pods) == ["finalize", "probe", "sync"]
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        (container,) = pod["spec"]["containers"]
        assert container["image"].endswith(f"/{container['name']}:{MPIBASE.rpartition(':')[2]}")


def test_a_pod_reaches_the_probe_by_its_service_name(node, functions, namespace):
    pod, log = run_pod(
        node,
        namespace,
        "reach-probe",
        "curl -sS -o /dev/null -w '%{http_code}\\n' http://probe.mpifn.svc.cluster.local:8080/_/health",
    )
    assert pod["status"]["phase"] == "Succeeded", log
    assert log.strip() == "200"


def status_of(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()[:300]
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()[:300]


def test_the_probe_refuses_an_unsigned_request_and_the_hooks_need_their_token(node, functions):
    """deploy/components/auth is on: the key and the token are mounted into the function pods."""
    unsigned = json.dumps({"namespace": "default", "name": "x", "replicas": 1}).encode()
    answers = [status_of(functions[name] + "/", unsigned) for name in ("probe", "sync", "finalize")]
    assert [status for status, _ in answers] == [403, 401, 401], answers
