"""The probe against real TCP listeners on loopback addresses: who answers SSH, and why not."""

import time

import pytest

from mpifn.errors import RequestError
from mpifn.probe import parse_probe_request, report_json, report_text
from mpifn.settings import Settings
from testkit import calls
from testkit.listeners import HTTP_BANNER, SSH_BANNER, listening
from testkit.server import free_port

# Worker i of the job lives on 127.0.40.i: real addresses, no name service involved.
TEMPLATE = "127.0.40.{index}"


def request(**fields):
    body = {"namespace": "default", "name": "hello", "replicas": 4, "minReplicas": 2, "slots": 2}
    body.update(fields)
    return body


@pytest.fixture
def four_workers():
    """0: sshd, 1: not SSH, 2: nothing listening (refused), 3: accepts but never speaks."""
    port = free_port()
    specs = [("127.0.40.0", port, SSH_BANNER), ("127.0.40.1", port, HTTP_BANNER), ("127.0.40.3", port, None)]
    with listening(*specs):
        yield port


def test_each_worker_gets_its_reason(four_workers):
    settings = Settings(worker_host_template=TEMPLATE)
    report = calls.probe(parse_probe_request(request(sshPort=four_workers, timeoutSeconds=1), settings), settings)
    answer = report_json(report)
    assert answer["reachable"] == [{"index": 0, "host": "127.0.40.0", "address": "127.0.40.0"}]
    reasons = {w["index"]: (w["reason"], w["detail"]) for w in answer["unreachable"]}
    assert reasons[1] == ("not-ssh", f"port {four_workers} answered 'HTTP/1.1 400 Bad Request'")
    assert reasons[2] == ("refused", f"connection refused on port {four_workers}")
    assert reasons[3] == ("timeout", "no SSH banner within 1s")
    assert answer["hostfile"] == "127.0.40.0 slots=2\n"
    assert answer["enough"] is False


def test_the_deadline_bounds_the_whole_probe(four_workers):
    settings = Settings(worker_host_template=TEMPLATE)
    parsed = parse_probe_request(request(sshPort=four_workers, timeoutSeconds=0.5), settings)
    started = time.monotonic()
    calls.probe(parsed, settings)
    assert time.monotonic() - started < 0.5 + 2.0  # the deadline plus generous slack for a loaded machine


def test_text_answer_lists_unreachable_workers_as_comments(four_workers):
    settings = Settings(worker_host_template=TEMPLATE)
    parsed = parse_probe_request(request(sshPort=four_workers, timeoutSeconds=1, mpiImplementation="MPICH"), settings)
    lines = report_text(calls.probe(parsed, settings)).splitlines()
    assert lines[0] == "# mpifn probe default/hello: 1 of 4 workers reachable, 2 needed"
    assert lines[1] == f"# unreachable 127.0.40.1: not-ssh (port {four_workers} answered 'HTTP/1.1 400 Bad Request')"
    assert lines[-1] == "127.0.40.0:2"


def test_a_name_that_cannot_resolve_is_no_dns():
    # A label over 63 characters fails inside the resolver library, without asking any server.
    settings = Settings(worker_host_template="{job}-{index}." + "x" * 64)
    report = report_json(calls.probe(parse_probe_request(request(replicas=1, minReplicas=1), settings), settings))
    assert report["unreachable"][0]["reason"] == "no-dns"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (request(hosts=["10.0.0.1"]), "probe: unknown field(s) hosts"),
        (request(name="evil.example.com"), "probe.name: must match"),
        (request(namespace="a/b"), "probe.namespace: must match"),
        (request(replicas=10**6), "probe.replicas: must be at most 4096"),
        (request(timeoutSeconds=3600), "probe.timeoutSeconds: must be at most 30.0"),
        (request(minReplicas=9), "probe.minReplicas: must be at most probe.replicas (4)"),
        ({"namespace": "default"}, "probe.name: required"),
    ],
)
def test_probe_contacts_only_the_named_jobs_workers(body, message):
    with pytest.raises(RequestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_probe_request(body, Settings())
