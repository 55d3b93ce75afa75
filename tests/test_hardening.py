"""Issue 7 items the property tests do not cover: the private key on error paths, user
templates that break Pod Security, and the opt-in auth wiring in the shipped manifests."""

import base64
import json
import logging

import requests
import yaml

from mpifn import web
from mpifn.keys import FileKeys
from mpifn.manifests import HOOKS, OPENFAAS_TOKEN
from mpifn.settings import Settings
from mpifn.sshkeys import SshKeyPair
from testkit import calls
from testkit.metacontroller import as_observed, hook_request
from tests.conftest import ROOT, load_yaml
from tests.support.pod_security import pod_templates_of, restricted_problems

PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAMPIFNSECRETBODY\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
SECRET_PART = "MPIFNSECRETBODY"


def _with_key(parent):
    first = calls.sync(hook_request(parent))
    for child in first["children"]:
        if child["kind"] == "Secret":
            child["data"]["ssh-privatekey"] = base64.b64encode(PEM.encode()).decode()
    return {**parent, "status": first["status"]}, as_observed(first["children"])


def test_a_handler_that_raises_with_the_key_answers_500_without_it(caplog):
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("mpifn")
    logger.addHandler(handler)

    def leaky(_payload, _query):
        raise RuntimeError(f"could not parse {PEM}")

    try:
        reply = web.respond("sync", leaky, web.Call("POST", "/", {}, {}, b"{}"), Settings())
    finally:
        logger.removeHandler(handler)
    assert reply.status == 500
    assert json.loads(reply.body) == {
        "error": "sync: internal error (RuntimeError); nothing was changed",
        "status": 500,
    }
    assert lines and all(SECRET_PART not in line for line in lines)
    assert all(SECRET_PART not in record.getMessage() for record in caplog.records)


def logged_errors(function, handler, body: bytes = b"{}", app=None) -> tuple[web.Reply, list[dict]]:
    lines: list[str] = []
    recorder = logging.Handler()
    recorder.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("mpifn")
    logger.addHandler(recorder)
    try:
        call = web.Call("POST", "/", {}, {}, body)
        reply = app.answer(function, call) if app else web.respond(function, handler, call, Settings())
    finally:
        logger.removeHandler(recorder)
    return reply, [json.loads(line) for line in lines if '"exception"' in line]


def test_an_unexpected_error_logs_where_it_was_raised_innermost_last_without_its_text():
    def parse(text):
        return text.missing  # AttributeError, its message quoting the request's key

    def leaky(payload, _query):
        key = PEM  # a local holding the secret: never logged
        return parse(key)

    reply, (line,) = logged_errors("sync", leaky)
    assert reply.status == 500
    assert set(line) == {"function", "exception", "frames"}
    assert (line["function"], line["exception"]) == ("sync", "AttributeError")
    here = "tests/test_hardening.py"
    assert [frame.rsplit(":", 2)[::2] for frame in line["frames"]] == [
        ["mpifn/web.py", "_dispatch"],
        [here, "leaky"],
        [here, "parse"],
    ]
    file, number, function = line["frames"][-1].split(":")
    assert (file, function) == (here, "parse")
    assert (ROOT / file).read_text().splitlines()[int(number) - 1].strip().startswith("return text.missing")
    assert SECRET_PART not in json.dumps(line) and "missing" not in json.dumps(line)


class BrokenKeys(FileKeys):
    def new_ssh_key_pair(self) -> SshKeyPair:
        raise KeyError("ssh-privatekey")


def test_a_hook_that_fails_inside_mpifn_names_its_module_and_function(hello):
    app = calls.app(keys=BrokenKeys(), functions=["sync"])
    reply, (line,) = logged_errors("sync", None, json.dumps(hook_request(hello)).encode(), app)
    assert reply.status == 500 and line["exception"] == "KeyError"
    assert [frame.rsplit(":", 2)[::2] for frame in line["frames"]][-4:] == [
        ["mpifn/hooks.py", "sync"],
        ["mpifn/hooks.py", "desired_children"],
        ["mpifn/children/ssh.py", "ssh_secret"],
        ["tests/test_hardening.py", "new_ssh_key_pair"],
    ]
    assert "ssh-privatekey" not in json.dumps(line)


def test_a_deep_traceback_logs_its_innermost_frames_and_how_many_were_left_out():
    def down(depth):
        if depth == 0:
            raise ValueError(PEM)
        return down(depth - 1)

    _, (line,) = logged_errors("sync", lambda _payload, _query: down(100))
    assert len(line["frames"]) == web.MAX_FRAMES
    assert line["frames_omitted"] == 100 + 3 - web.MAX_FRAMES  # _dispatch, the lambda and 101 calls of down
    assert all(frame.endswith(":down") for frame in line["frames"])


def test_the_key_stays_out_of_real_server_logs_and_errors(server, hello):
    parent, observed = _with_key(hello)
    broken = json.loads(json.dumps(parent))
    broken["spec"]["replicas"] = "many"
    bad_children = json.loads(json.dumps(hook_request(parent, observed)))
    bad_children["children"]["ConfigMap.v1"]["default/hello-config"]["metadata"] = "oops"
    answers = [
        requests.post(server.url("sync"), json=hook_request(parent, observed), timeout=10),
        requests.post(server.url("sync"), json=hook_request(broken, observed), timeout=10),
        requests.post(server.url("finalize"), json=hook_request(broken, observed, finalizing=True), timeout=10),
        requests.post(server.url("sync"), json=bad_children, timeout=10),
        requests.post(server.url("sync"), data=json.dumps(hook_request(parent, observed))[:-40], timeout=10),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 400, 400]
    assert answers[1].json()["status"]["reason"] == "SpecInvalid"  # it ran: the edit is refused, the job kept
    for answer in answers[1:]:
        body = answer.json()
        assert SECRET_PART not in json.dumps(body.get("error", "")) + json.dumps(body.get("status", ""))
    log = server.log.read_text()
    assert '"function":"sync"' in log
    assert SECRET_PART not in log
    assert base64.b64encode(PEM.encode()).decode() not in log


def test_user_violations_are_kept_for_admission_to_reject():
    parent = load_yaml(ROOT / "tests" / "fixtures" / "seed-daemons.yaml")
    container = parent["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"] = {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}
    templates = pod_templates_of(calls.sync(hook_request(parent))["children"])
    assert sorted(templates) == ["Job/test-mpi-launcher", "StatefulSet/test-mpi-worker"]
    for where, template in templates.items():
        spec = template["spec"]
        assert {"name": "mount-data", "hostPath": {"path": "/etc", "type": "Directory"}} in spec["volumes"], where
        assert restricted_problems(spec, template["metadata"]) == [
            "spec.containers[0](test-mpi).securityContext.capabilities.add: only NET_BIND_SERVICE, got ['SYS_ADMIN']",
            "spec.containers[0](test-mpi).securityContext.privileged: must be unset or false",
            "spec.volumes[0](mount-data): volume type hostPath is not allowed",
        ], where
        # what the user left unset still gets the restricted defaults
        assert spec["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["SYS_ADMIN"]}
        assert spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_restricted_check_catches_each_rule():
    good = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "a", "securityContext": {"allowPrivilegeEscalation": False,
                                                          "capabilities": {"drop": ["ALL"]}}}],
    }  # fmt: skip
    assert restricted_problems(good) == []
    cases = {
        "hostNetwork": lambda s: s.update(hostNetwork=True),
        "hostPID": lambda s: s.update(hostPID=True),
        "runAsUser: must not be 0": lambda s: s["securityContext"].update(runAsUser=0),
        "seccompProfile": lambda s: s["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "hostPort": lambda s: s["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]),
        "allowPrivilegeEscalation": lambda s: s["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
        "drop: must include ALL": lambda s: s["containers"][0]["securityContext"].pop("capabilities"),
        "runAsNonRoot": lambda s: s["containers"][0]["securityContext"].update(runAsNonRoot=False),
        "volume type hostPath": lambda s: s.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
    }
    for expected, breaks in cases.items():
        spec = json.loads(json.dumps(good))
        breaks(spec)
        found = restricted_problems(spec)
        assert any(expected in problem for problem in found), (expected, found)


def test_the_auth_variants_wire_the_token_into_sync_and_finalize_and_the_probe_key_into_all():
    plain = yaml.safe_load((ROOT / "stack.yml").read_text())
    guarded = yaml.safe_load((ROOT / "stack.auth.yml").read_text())
    token_file = "/var/openfaas/secrets/mpifn-auth-token"
    key = {"MPIFN_PROBE_KEY_FILE": "/var/openfaas/secrets/mpifn-probe-key",
           "MPIFN_PREVIOUS_PROBE_KEY_FILE": "/var/openfaas/secrets/mpifn-probe-key-previous"}  # fmt: skip
    for name in ("sync", "finalize", "probe"):
        expected = {**plain["functions"][name]}
        if name == "probe":  # the launcher init step sends no token, only the signature
            expected["environment"] = {**expected["environment"], **key, "MPIFN_AUTH_TOKEN_FILE": ""}
            expected["secrets"] = ["mpifn-probe-key"]
        else:
            expected["environment"] = {**expected["environment"], **key, "MPIFN_AUTH_TOKEN_FILE": token_file}
            expected["secrets"] = ["mpifn-auth-token", "mpifn-probe-key"]
        assert guarded["functions"][name] == expected, name
    for key in ("version", "provider", "configuration"):
        assert guarded[key] == plain[key]

    # The secret Metacontroller reads (deploy/components/auth-openfaas) is the one the stack mounts.
    secret = OPENFAAS_TOKEN
    assert (secret.name, secret.key, secret.namespace) == ("mpifn-auth-token", "mpifn-auth-token", "openfaas-fn")
    assert guarded["functions"]["sync"]["secrets"] == [secret.name, "mpifn-probe-key"]
    assert token_file == f"/var/openfaas/secrets/{secret.key}"
    component = yaml.safe_load((ROOT / "deploy" / "components" / "auth-openfaas" / "kustomization.yaml").read_text())
    # sync and finalize on every controller, customize on those that have it
    operations = [op for patch in component["patches"] for op in yaml.safe_load(patch["patch"])]
    assert [op["value"] for op in operations] == [secret.reference()] * len(HOOKS)


def test_the_token_file_of_the_manifests_is_what_the_server_reads(start_server, tmp_path, hello):
    secrets = tmp_path / "var" / "openfaas" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "mpifn-auth-token").write_text("t0ken\n")  # faas-cli secret create may keep a newline
    with start_server({"MPIFN_AUTH_TOKEN_FILE": str(secrets / "mpifn-auth-token")}) as guarded:
        ok = requests.post(guarded.url("finalize"), json=hook_request(hello, finalizing=True), timeout=10,
                           headers={"Authorization": "Bearer t0ken"})  # fmt: skip
        denied = requests.post(guarded.url("probe"), json={"namespace": "default", "name": "hello", "replicas": 1},
                               timeout=10)  # fmt: skip
    assert (ok.status_code, denied.status_code) == (200, 401)
    assert denied.json()["error"] == "missing or wrong bearer token in the Authorization header"
