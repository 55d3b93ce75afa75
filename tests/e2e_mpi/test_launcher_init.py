"""The image's launcher init script against a scripted probe on loopback.

The real probe and real workers are exercised by the run tests; here a small
HTTP server on 127.0.0.1 answers what each case needs (errors, too few
workers, then enough), to check the script's contract: the request it sends,
its retries, its deadline, the hostfile it writes and its messages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mpifn import probetext
from mpifn.probetext import InitVerdict, Unreachable, read_verdict
from testkit import calls
from testkit.lab import IMAGE_DIR

pytestmark = pytest.mark.e2e_mpi

SCRIPT = IMAGE_DIR / "mpifn-launcher-init.sh"
SLACK_SECONDS = 6


class ScriptedProbe:
    """Answers POSTs with the next scripted (status, body); the last one repeats."""

    def __init__(self, answers: list[tuple[int, str]]):
        self.answers = list(answers)
        self.requests: list[tuple[str, dict]] = []
        probe = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                probe.requests.append((self.path, body))
                index = min(len(probe.requests), len(probe.answers)) - 1
                status, text = probe.answers[index]
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/function/probe"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def answer(
    reachable: list[str], unreachable: list[tuple[str, str, str]], needed: int, total: int, slots: int = 2
) -> str:
    """The probe's own text answer (mpifn.probetext) for job e2e/job."""
    hostfile = "".join(f"{host} slots={slots}\n" for host in reachable)
    return probetext.probe_answer("e2e", "job", total, needed, len(reachable), unreachable, hostfile)


def host(i: int) -> str:
    return f"job-worker-{i}.job-worker.e2e.svc"


def run_init(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    if shutil.which("dash") is None or shutil.which("curl") is None:
        pytest.fail("dash and curl are needed (scripts/install-mpi-deps.sh)")
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MPIFN_JOB_NAME": "job",
        "MPIFN_JOB_NAMESPACE": "e2e",
        "MPIFN_REPLICAS": "2",
        "MPIFN_MIN_REPLICAS": "2",
        "MPIFN_SLOTS": "2",
        "MPIFN_SSH_PORT": "2222",
        "MPIFN_MPI_IMPLEMENTATION": "OpenMPI",
        "MPIFN_PROBE_TIMEOUT_SECONDS": "2",
        "MPIFN_INIT_DEADLINE_SECONDS": "20",
        "MPIFN_HOSTFILE": str(tmp_path / "mpi" / "hostfile"),
        "TMPDIR": str(tmp_path),
    }
    base.update(env)
    started = time.monotonic()
    result = subprocess.run(["dash", str(SCRIPT)], env=base, capture_output=True, text=True, timeout=120, check=False)
    return result, time.monotonic() - started


def test_sends_the_contract_request_and_writes_the_hostfile(tmp_path):
    with ScriptedProbe([(200, answer([host(0), host(1)], [], 2, 2))]) as probe:
        result, _ = run_init(tmp_path, MPIFN_PROBE_URL=probe.url)
    assert result.returncode == 0, result.stdout + result.stderr
    path, body = probe.requests[0]
    assert path == "/function/probe?format=text"
    assert body == {
        "namespace": "e2e",
        "name": "job",
        "replicas": 2,
        "minReplicas": 2,
        "slots": 2,
        "sshPort": 2222,
        "mpiImplementation": "OpenMPI",
        "timeoutSeconds": 2,
    }
    assert (tmp_path / "mpi" / "hostfile").read_text() == (f"{host(0)} slots=2\n{host(1)} slots=2\n")
    assert "no worker excluded" in result.stdout
    assert not list(tmp_path.glob("mpifn-init.*")), "temporary files left behind"


def test_retries_probe_errors_and_too_few_workers_until_enough(tmp_path):
    answers = [
        (503, "gateway starting"),
        (200, answer([host(0)], [(host(1), "no-dns", "Name or service not known")], 2, 2)),
        (200, answer([host(0), host(1)], [], 2, 2)),
    ]
    with ScriptedProbe(answers) as probe:
        result, seconds = run_init(tmp_path, MPIFN_PROBE_URL=probe.url)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert len(probe.requests) == 3
    assert "attempt 1: probe answered HTTP 503: gateway starting" in out
    assert f"{host(1)}: no-dns (Name or service not known)" in out
    assert "probe answered on attempt 3" in out
    # backoff 1 s then 2 s between the three calls
    assert seconds >= 3 - 0.5, seconds
    assert len((tmp_path / "mpi" / "hostfile").read_text().splitlines()) == 2


def test_daemons_mode_keeps_the_reachable_and_names_the_excluded(tmp_path):
    text = answer(
        [host(0), host(2)], [(host(1), "refused", "connection refused"), (host(3), "timeout", "no answer in 2s")], 1, 4
    )
    with ScriptedProbe([(200, text)]) as probe:
        result, _ = run_init(tmp_path, MPIFN_PROBE_URL=probe.url, MPIFN_REPLICAS="4", MPIFN_MIN_REPLICAS="1")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "excluded from the hostfile" in out
    assert f"{host(1)}: refused (connection refused)" in out
    assert f"{host(3)}: timeout (no answer in 2s)" in out
    assert "2 workers x 2 slots = 4 slots" in out


def test_too_few_workers_fails_at_the_deadline_naming_them(tmp_path):
    text = answer([host(0)], [(host(1), "refused", "connection refused")], 2, 2)
    with ScriptedProbe([(200, text)]) as probe:
        result, seconds = run_init(tmp_path, MPIFN_PROBE_URL=probe.url, MPIFN_INIT_DEADLINE_SECONDS="4")
    err = result.stderr
    assert result.returncode == 1, result.stdout + err
    assert "too few workers reachable for job e2e/job" in err
    assert f"unreachable workers:\n  {host(1)}: refused (connection refused)" in err
    assert "no hostfile written; mpirun will not start" in err
    assert len(probe.requests) >= 2
    assert seconds <= 4 + SLACK_SECONDS, seconds
    assert not (tmp_path / "mpi" / "hostfile").exists()


def test_a_probe_that_never_answers_fails_within_the_deadline(tmp_path):
    # A port on loopback where nothing listens: every call is refused.
    with ScriptedProbe([(200, "")]) as probe:
        url = probe.url
    result, seconds = run_init(tmp_path, MPIFN_PROBE_URL=url, MPIFN_INIT_DEADLINE_SECONDS="3")
    assert result.returncode == 1
    assert f"the probe {url} never answered for job e2e/job" in result.stderr
    assert "probe call failed" in result.stderr
    assert seconds <= 3 + SLACK_SECONDS, seconds


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MPIFN_PROBE_URL": ""}, "MPIFN_PROBE_URL is not set"),
        ({"MPIFN_REPLICAS": "two"}, "MPIFN_REPLICAS must be a whole number"),
        ({"MPIFN_MIN_REPLICAS": "3"}, "MPIFN_MIN_REPLICAS (3) is more than MPIFN_REPLICAS (2)"),
        ({"MPIFN_MPI_IMPLEMENTATION": "LAM"}, "must be OpenMPI, MPICH or IntelMPI"),
        ({"MPIFN_JOB_NAME": 'x","y'}, "MPIFN_JOB_NAME must be a Kubernetes name"),
        ({"MPIFN_SSH_PORT": "70000"}, "MPIFN_SSH_PORT out of range"),
    ],
)
def test_configuration_errors_exit_2_with_the_variable_named(tmp_path, env, message):
    merged = {"MPIFN_PROBE_URL": "http://127.0.0.1:9/function/probe", **env}
    result, _ = run_init(tmp_path, **merged)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


SIGNED = {"MPIFN_JOB_UID": "6f1c2a4e-0b7d-4c55-9a3e-2d8f1e7c9b10", "MPIFN_PROBE_EXPIRES": "1796000000",
          "MPIFN_PROBE_SIGNATURE": "ab" * 32}  # fmt: skip


def test_sends_the_signature_sync_gave_the_launcher(tmp_path):
    with ScriptedProbe([(200, answer([host(0), host(1)], [], 2, 2))]) as probe:
        result, _ = run_init(tmp_path, MPIFN_PROBE_URL=probe.url, **SIGNED)
    assert result.returncode == 0, result.stdout + result.stderr
    _, body = probe.requests[0]
    assert (body["uid"], body["expires"], body["signature"]) == (SIGNED["MPIFN_JOB_UID"], 1796000000, "ab" * 32)
    assert "(signed request)" in result.stdout


def test_a_refused_signature_is_reported_with_the_probes_error(tmp_path):
    refused = json.dumps({"error": "probe: signature does not match namespace, name, ...", "status": 403})
    with ScriptedProbe([(403, refused)]) as probe:
        result, _ = run_init(tmp_path, MPIFN_PROBE_URL=probe.url, MPIFN_INIT_DEADLINE_SECONDS="2", **SIGNED)
    assert result.returncode == 1
    assert "probe answered HTTP 403: " + refused in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MPIFN_PROBE_SIGNATURE": "xyz"}, "MPIFN_PROBE_SIGNATURE must be 64 hex digits"),
        ({"MPIFN_PROBE_EXPIRES": "soon"}, "MPIFN_PROBE_EXPIRES must be a whole number"),
        ({"MPIFN_JOB_UID": 'a","b'}, "MPIFN_JOB_UID must be a Kubernetes uid"),
    ],
)
def test_a_malformed_signature_is_a_configuration_error(tmp_path, env, message):
    result, _ = run_init(tmp_path, MPIFN_PROBE_URL="http://127.0.0.1:9/function/probe", **{**SIGNED, **env})
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


def test_discover_hosts_sends_the_launchers_signature(tmp_path):
    """The ConfigMap's discover_hosts.sh, as sync renders it, run with the launcher's env."""
    from tests.conftest import EXAMPLES, load_yaml

    with ScriptedProbe([(200, answer([host(0)], [], 1, 2))]) as probe:
        parent = load_yaml(EXAMPLES / "hello.yaml")
        response = calls.sync({"controller": {}, "parent": parent, "children": {}, "finalizing": False})
        config = next(c for c in response["children"] if c["kind"] == "ConfigMap")
        script = tmp_path / "discover_hosts.sh"
        script.write_text(
            config["data"]["discover_hosts.sh"].replace("http://gateway.openfaas:8080/function/probe", probe.url)
        )
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **SIGNED}
        result = subprocess.run(["dash", str(script)], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{host(0)} slots=2\n"
    _, body = probe.requests[0]
    assert body == {"namespace": "default", "name": "hello", "replicas": 2, "minReplicas": 2, "slots": 2,
                    "sshPort": 2222, "mpiImplementation": "MPICH", "timeoutSeconds": 5, "uid": SIGNED["MPIFN_JOB_UID"],
                    "expires": 1796000000, "signature": "ab" * 32}  # fmt: skip


# --------------------------------------------------------------------------- the verdict


def verdict_of(tmp_path: Path, text: str, **env: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run the script with a termination-message file, as the kubelet provides one."""
    log = tmp_path / "termination-log"
    log.write_text("")
    with ScriptedProbe([(200, text)]) as probe:
        result, _ = run_init(tmp_path, MPIFN_PROBE_URL=probe.url, MPIFN_TERMINATION_LOG=str(log), **env)
    return result, log.read_text()


def test_the_verdict_names_the_workers_left_out_and_sync_reads_it(tmp_path):
    text = answer([host(0)], [(host(1), "refused", "connection refused on port 2222")], 1, 2)
    result, message = verdict_of(tmp_path, text, MPIFN_MIN_REPLICAS="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert message == (
        "mpifn-init: ok: 1 of 2 workers reachable, 1 needed\n"
        f"unreachable {host(1)}: refused (connection refused on port 2222)\n"
    )
    verdict = read_verdict(message)
    assert verdict == InitVerdict(
        "ok",
        "1 of 2 workers reachable, 1 needed",
        (Unreachable("job-worker-1", "refused", "connection refused on port 2222"),),
        0,
    )


def test_the_verdict_of_too_few_workers_is_bounded(tmp_path):
    workers = 40
    text = answer([], [(host(i), "timeout", "no SSH banner within 2s") for i in range(workers)], workers, workers)
    result, message = verdict_of(tmp_path, text, MPIFN_REPLICAS=str(workers), MPIFN_MIN_REPLICAS=str(workers),
                                 MPIFN_INIT_DEADLINE_SECONDS="2")  # fmt: skip
    assert result.returncode == 1
    lines = message.splitlines()
    assert lines[0].startswith(
        f"mpifn-init: too-few-workers: 0 of {workers} workers reachable, {workers} needed (after "
    )
    assert lines[1] == f"unreachable {host(0)}: timeout (no SSH banner within 2s)"
    assert lines[-1] == f"and {workers - 15} more unreachable"
    assert len(lines) == 17 and len(message.encode()) < 4096
    verdict = read_verdict(message)
    assert verdict is not None and (verdict.outcome, len(verdict.unreachable), verdict.more) == (
        "too-few-workers", 15, workers - 15)  # fmt: skip


def test_the_verdict_of_a_probe_that_never_answers_and_of_a_configuration_error(tmp_path):
    log = tmp_path / "termination-log"
    log.write_text("")
    with ScriptedProbe([(200, "")]) as probe:
        url = probe.url
    result, _ = run_init(tmp_path, MPIFN_PROBE_URL=url, MPIFN_INIT_DEADLINE_SECONDS="2", MPIFN_TERMINATION_LOG=str(log))
    assert result.returncode == 1
    assert log.read_text().startswith(f"mpifn-init: probe-failed: {url} never answered within ")
    result, _ = run_init(tmp_path, MPIFN_PROBE_URL=url, MPIFN_REPLICAS="two", MPIFN_TERMINATION_LOG=str(log))
    assert result.returncode == 2
    assert log.read_text() == "mpifn-init: config-error: MPIFN_REPLICAS must be a whole number, got 'two'\n"


def test_no_verdict_file_is_made_outside_a_pod(tmp_path):
    missing = tmp_path / "no-such-dir" / "termination-log"
    with ScriptedProbe([(200, answer([host(0), host(1)], [], 2, 2))]) as probe:
        result, _ = run_init(tmp_path, MPIFN_PROBE_URL=probe.url, MPIFN_TERMINATION_LOG=str(missing))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not missing.parent.exists()
