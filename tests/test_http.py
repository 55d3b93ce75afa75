"""The functions over real HTTP, served as `make run` serves them."""

import json
import subprocess
import sys

import pytest
import requests
import yaml

from testkit.listeners import SSH_BANNER, listening
from testkit.metacontroller import hook_request
from testkit.pods import explanation_with
from testkit.server import free_port
from tests.conftest import EXAMPLES, ROOT
from tests.support.kubernetes import validate_strict


def test_health_and_ready_paths(server):
    for path in ("/_/health", "/_/ready", "/function/sync/_/health"):
        response = requests.get(server.base_url + path, timeout=5)
        assert (response.status_code, response.text) == (200, "ok\n"), path


def test_sync_answers_the_example_request_with_valid_children(server):
    body = (EXAMPLES / "sync-request.json").read_bytes()
    response = requests.post(server.url("sync"), data=body, timeout=10)
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"status", "children"}
    assert len(answer["children"]) == 5
    for child in answer["children"]:
        validate_strict(child)


def test_not_json_is_400_with_a_json_error(server):
    response = requests.post(server.url("sync"), data=b"{not json", timeout=5)
    assert response.status_code == 400
    assert response.json()["error"].startswith("request body: not JSON")


def test_no_parent_is_400(server):
    response = requests.post(server.url("finalize"), json={"children": {}}, timeout=5)
    assert (response.status_code, response.json()["error"]) == (
        400,
        "parent: required (the MPIJob object Metacontroller sends)",
    )


def test_get_on_a_hook_is_405(server):
    response = requests.get(server.url("sync"), timeout=5)
    assert response.status_code == 405
    assert "use POST" in response.json()["error"]


def test_unknown_function_is_404(server):
    response = requests.post(f"{server.base_url}/function/nope", json={}, timeout=5)
    assert response.status_code == 404
    assert "/function/probe" in response.json()["error"]


def test_invalid_spec_is_200_with_invalid_spec_status(server, hello):
    hello["spec"]["replicas"] = "two"
    response = requests.post(server.url("sync"), json=hook_request(hello), timeout=5)
    assert response.status_code == 200
    assert response.json()["status"]["reason"] == "InvalidSpec"
    assert response.json()["children"] == []


def test_probe_over_http_json_and_text(server):
    port = free_port()
    body = {
        "namespace": "default",
        "name": "hello",
        "replicas": 2,
        "minReplicas": 1,
        "sshPort": port,
        "timeoutSeconds": 1,
    }
    with listening(("127.0.30.0", port, SSH_BANNER)):
        as_json = requests.post(server.url("probe"), json=body, timeout=10).json()
        as_text = requests.post(server.url("probe") + "?format=text", json=body, timeout=10)
        as_get = requests.get(server.url("probe"), params={**body, "format": "text"}, timeout=10)
    assert [w["host"] for w in as_json["reachable"]] == ["127.0.30.0"]
    assert as_json["unreachable"][0]["reason"] == "refused"
    assert as_text.headers["Content-Type"].startswith("text/plain")
    assert as_text.text.splitlines()[-1] == "127.0.30.0 slots=1"
    assert as_get.text == as_text.text


def test_probe_rejects_hosts_of_the_callers_choosing(server):
    body = {"namespace": "default", "name": "hello", "replicas": 1, "hosts": ["127.0.0.1:22"]}
    response = requests.post(server.url("probe"), json=body, timeout=5)
    assert response.status_code == 400
    assert "unknown field(s) hosts" in response.json()["error"]


def test_one_structured_log_line_per_request(server, hello):
    requests.post(server.url("sync"), json=hook_request(hello), timeout=5)
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("job") == "hello" and line["function"] == "sync"]
    assert mine, server.log.read_text()
    assert set(mine[-1]) == {"function", "job", "namespace", "method", "status", "outcome", "duration_ms"}
    assert (mine[-1]["namespace"], mine[-1]["outcome"]) == ("default", "ok")


def test_body_over_the_limit_is_413(start_server):
    with start_server({"MPIFN_MAX_BODY_BYTES": "1000"}) as small:
        response = requests.post(small.url("sync"), data=b"x" * 5000, timeout=5)
    assert response.status_code == 413
    assert "over the limit of 1000 (MPIFN_MAX_BODY_BYTES)" in response.json()["error"]


def test_bearer_token_is_required_when_configured(start_server, tmp_path, hello):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    with start_server({"MPIFN_AUTH_TOKEN_FILE": str(token)}) as guarded:
        anonymous = requests.post(guarded.url("sync"), json=hook_request(hello), timeout=5)
        wrong = requests.post(
            guarded.url("sync"), json=hook_request(hello), timeout=5, headers={"Authorization": "Bearer nope"}
        )
        right = requests.post(
            guarded.url("sync"), json=hook_request(hello), timeout=5, headers={"Authorization": "Bearer s3cret"}
        )
        health = requests.get(guarded.base_url + "/_/health", timeout=5)
    assert (anonymous.status_code, wrong.status_code, right.status_code, health.status_code) == (401, 401, 200, 200)


def test_the_example_request_is_the_example_job():
    request = json.loads((EXAMPLES / "sync-request.json").read_text())
    assert request["parent"] == yaml.safe_load((EXAMPLES / "hello.yaml").read_text())


def test_render_prints_the_children_as_yaml_without_secrets():
    result = subprocess.run(
        [sys.executable, "-m", "mpifn", "render", str(EXAMPLES / "hello.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    documents = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in documents] == ["ConfigMap", "Job", "Secret", "Service", "StatefulSet"]
    assert "PRIVATE KEY" not in result.stdout
    for child in documents:
        validate_strict(child)


def test_render_names_a_missing_file():
    result = subprocess.run(
        [sys.executable, "-m", "mpifn", "render", "nope.yaml"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 2
    assert "mpifn render: nope.yaml:" in result.stderr


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_nan_and_infinity_are_not_json(server, value):
    body = b'{"namespace": "a", "name": "b", "replicas": ' + value + b"}"
    response = requests.post(server.url("probe"), data=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"].startswith("request body: not JSON (")


def test_an_integer_beyond_64_bits_is_400(server, hello):
    hello["spec"]["slotsPerWorker"] = 2**64
    response = requests.post(server.url("sync"), data=json.dumps({"parent": hello, "children": {}}), timeout=5)
    assert (response.status_code, response.json()["error"]) == (
        400,
        "request body: the integer 18446744073709551616 does not fit in 64 bits (Kubernetes stores integers as int64)",
    )


def test_a_probe_query_integer_beyond_64_bits_is_400(server):
    query = {"namespace": "a", "name": "b", "replicas": "1", "slots": str(2**70)}
    response = requests.get(server.url("probe"), params=query, timeout=5)
    assert (response.status_code, response.json()["error"]) == (
        400,
        "probe.slots: the integer 1180591620717411303424 does not fit in 64 bits (Kubernetes stores integers as int64)",
    )


def test_the_customize_hook_is_a_route_of_sync(server, hello):
    explanation = explanation_with(hello, [])
    response = requests.post(
        server.url("sync") + "/customize", json={"controller": {}, "parent": explanation}, timeout=10
    )
    assert response.status_code == 200
    assert [rule["resource"] for rule in response.json()["relatedResources"]] == ["pods", "pods"]
    refused = requests.post(server.url("sync") + "/customize", json={"parent": {"kind": "MPIJob"}}, timeout=10)
    assert (refused.status_code, refused.json()["error"]) == (400, "parent.metadata.name: required")
    logged = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("function") == "sync/customize" for line in logged)
