"""The node itself: a pod runs from the project's image with the cluster's DNS,
and the functions answer through their Services."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from .node import NODE_IP, NODE_NAME, project_images

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
