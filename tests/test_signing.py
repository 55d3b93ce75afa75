"""Signed probe requests: what sync gives a launcher, and what the probe refuses (403, JSON
error) before it resolves or connects to anything."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mpifn import signing
from mpifn.children.launcher import signed_in
from mpifn.endpoints import App
from mpifn.settings import Settings
from mpifn.signing import SignedJob
from testkit import calls
from testkit.listeners import SSH_BANNER, listening
from testkit.metacontroller import as_observed, hook_request, with_status
from testkit.server import free_port
from tests.test_hooks import T0

UID = "6f1c2a4e-0b7d-4c55-9a3e-2d8f1e7c9b10"
WEEK = 7 * 24 * 3600


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    files = {"new": tmp_path / "key", "old": tmp_path / "previous"}
    files["new"].write_text("a-new-key-of-32-random-characters\n")
    files["old"].write_text("the-old-key-still-in-its-grace-period")
    return files


@contextmanager
def configured(**fields: Any) -> Iterator[App]:
    """The functions with these settings (keys read from the files they name)."""
    yield calls.app(Settings(**fields))


def sync(app: App, request: Any, now: datetime) -> dict[str, Any]:
    return calls.sync(request, now=now, settings=app.settings)


def call(app: App, function: str, body: Any) -> tuple[int, Any]:
    reply = calls.post(app, function, body)
    return reply.status, json.loads(reply.body)


def launcher_of(response: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in response["children"] if c["kind"] == "Job")


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


def with_uid(parent: dict[str, Any]) -> dict[str, Any]:
    return {**parent, "metadata": {**parent["metadata"], "uid": UID}}


# --------------------------------------------------------------------------- sync


def test_sync_signs_the_launchers_probe_fields_once(hello, keys):
    parent = with_uid(hello)
    with configured(probe_key_file=str(keys["new"])) as app:
        first = sync(app, hook_request(parent), now=T0)
        template = launcher_of(first)["spec"]["template"]
        job, given = signed_in(template)  # type: ignore[misc]
        assert job == SignedJob(namespace="default", name="hello", uid=UID, replicas=2, min_replicas=2, slots=2,
                                ssh_port=2222, expires=int(T0.timestamp()) + WEEK)  # fmt: skip
        signing.check(job, given, [keys["new"].read_bytes().strip()], T0.timestamp())
        main = env_of(template["spec"]["containers"][0])
        assert (main["MPIFN_JOB_UID"], main["MPIFN_PROBE_SIGNATURE"]) == (UID, given)
        # Later syncs keep the launcher's template as created: the signature is not renewed.
        observed = as_observed(first["children"])
        later = sync(app, hook_request({**parent, "status": first["status"]}, observed), now=T0 + timedelta(days=2))
        assert later["children"] == first["children"]


def test_a_deadline_longer_than_the_ticket_lifetime_extends_it(hello, keys):
    hello["spec"]["runPolicy"] = {"activeDeadlineSeconds": 30 * 24 * 3600}
    with configured(probe_key_file=str(keys["new"])) as app:
        template = launcher_of(sync(app, hook_request(with_uid(hello)), now=T0))["spec"]["template"]
    job, _ = signed_in(template)  # type: ignore[misc]
    assert job.expires == int(T0.timestamp()) + 30 * 24 * 3600 + Settings().init_deadline_seconds


def test_without_a_key_nothing_is_signed(hello):
    with configured() as app:
        template = launcher_of(sync(app, hook_request(with_uid(hello)), now=T0))["spec"]["template"]
    assert signed_in(template) is None
    names = {
        item["name"] for c in template["spec"]["initContainers"] + template["spec"]["containers"] for item in c["env"]
    }
    assert not names & {"MPIFN_JOB_UID", "MPIFN_PROBE_EXPIRES", "MPIFN_PROBE_SIGNATURE"}


def test_a_launcher_not_started_with_a_refused_signature_is_made_again(hello, keys):
    """Suspended past its signature's expiry: the launcher goes, and the next sync makes it
    again with a fresh signature (its template cannot change in place)."""
    hello["spec"]["runPolicy"] = {"suspend": True}
    parent = with_uid(hello)
    with configured(probe_key_file=str(keys["new"])) as app:
        first = sync(app, hook_request(parent), now=T0)
        suspended = with_status(as_observed(first["children"]), "Job", {"conditions": [
            {"type": "Suspended", "status": "True"}]})  # fmt: skip
        resumed = {**parent, "spec": {**parent["spec"], "runPolicy": {"suspend": False}}, "status": first["status"]}
        still_valid = sync(app, hook_request(resumed, suspended), now=T0 + timedelta(days=6))
        assert launcher_of(still_valid)["spec"]["template"] == launcher_of(first)["spec"]["template"]
        expired = sync(app, hook_request(resumed, suspended), now=T0 + timedelta(days=8))
        assert "Job" not in {c["kind"] for c in expired["children"]}
        gone = [c for c in suspended if c["kind"] != "Job"]
        again = sync(app, hook_request({**resumed, "status": expired["status"]}, gone), now=T0 + timedelta(days=8))
    job, _ = signed_in(launcher_of(again)["spec"]["template"])  # type: ignore[misc]
    assert job.expires == int((T0 + timedelta(days=8)).timestamp()) + WEEK
    assert launcher_of(again)["spec"]["suspend"] is False


def test_a_running_launcher_is_never_made_again(hello, keys):
    parent = with_uid(hello)
    with configured(probe_key_file=str(keys["new"])) as app:
        first = sync(app, hook_request(parent), now=T0)
        running = with_status(as_observed(first["children"]), "Job", {"active": 1})
        later = sync(app, hook_request({**parent, "status": first["status"]}, running), now=T0 + timedelta(days=30))
    assert launcher_of(later) == launcher_of(first)


def test_an_unreadable_key_is_a_500_that_names_the_setting(hello, tmp_path):
    missing = tmp_path / "nope"
    with configured(probe_key_file=str(missing)) as app:
        status, answer = call(app, "sync", hook_request(with_uid(hello)))
        assert status == 500
        assert f"the probe key file {missing} (MPIFN_PROBE_KEY_FILE) cannot be read" in answer["error"]
        assert "nothing was changed" in answer["error"]
        status, answer = call(app, "probe", {"namespace": "default", "name": "hello", "replicas": 1})
        assert status == 500 and "MPIFN_PROBE_KEY_FILE" in answer["error"]


# --------------------------------------------------------------------------- probe


@pytest.fixture
def workers() -> Iterator[tuple[Any, Any]]:
    """Two SSH-like listeners on loopback that count every connection: the job's port and
    another one an altered request could name."""
    ours, other = free_port(), free_port()
    with listening(("127.0.0.1", ours, SSH_BANNER), ("127.0.0.1", other, SSH_BANNER)) as listeners:
        yield listeners[0], listeners[1]


def signed_body(key: bytes, port: int, until: int, **changes: Any) -> dict[str, Any]:
    job = SignedJob(namespace="team-a", name="train", uid=UID, replicas=2, min_replicas=1, slots=4, ssh_port=port,
                    expires=until)  # fmt: skip
    body = {"namespace": job.namespace, "name": job.name, "replicas": job.replicas, "minReplicas": job.min_replicas,
            "slots": job.slots, "sshPort": job.ssh_port, "timeoutSeconds": 1, "uid": job.uid, "expires": job.expires,
            "signature": signing.signature(job, key)}  # fmt: skip
    return {**body, **changes}


def test_a_signed_request_is_probed(keys, workers):
    ours, _ = workers
    key = keys["new"].read_bytes().strip()
    with configured(probe_key_file=str(keys["new"]), worker_host_template="127.0.0.1") as app:
        status, answer = call(app, "probe", signed_body(key, ours.socket.getsockname()[1], 2**40))
    assert status == 200, answer
    assert len(answer["reachable"]) == 2 and ours.accepted == 2


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unsigned", "answers only signed requests"),
        ("forged", "signature does not match"),
        ("other namespace", "signature does not match"),
        ("other job", "signature does not match"),
        ("other uid", "signature does not match"),
        ("more replicas", "signature does not match"),
        ("other port", "signature does not match"),
        ("later expiry", "signature does not match"),
        ("expired", "the signed request expired at"),
        ("another key", "signature does not match"),
    ],
)
def test_a_request_without_a_valid_signature_is_403_and_contacts_nothing(keys, workers, case, message):
    ours, other = workers
    key = keys["new"].read_bytes().strip()
    port = ours.socket.getsockname()[1]
    changes = {
        "unsigned": {"signature": ...},
        "forged": {"signature": "0" * 64},
        "other namespace": {"namespace": "kube-system"},
        "other job": {"name": "evaluate"},
        "other uid": {"uid": "00000000-0000-0000-0000-000000000000"},
        "more replicas": {"replicas": 3},
        "other port": {"sshPort": other.socket.getsockname()[1]},
        "later expiry": {"expires": 2**41},
        "expired": {},
        "another key": {"signature": signed_body(b"a-key-nobody-configured", port, 2**40)["signature"]},
    }[case]
    body = signed_body(key, port, int(T0.timestamp()) if case == "expired" else 2**40, **changes)
    body = {field: value for field, value in body.items() if value is not ...}
    with configured(probe_key_file=str(keys["new"]), worker_host_template="127.0.0.1") as app:
        status, answer = call(app, "probe", body)
    assert (status, answer["status"]) == (403, 403)
    assert message in answer["error"]
    assert (ours.accepted, other.accepted) == (0, 0)


def test_after_a_rotation_the_previous_key_is_accepted_until_it_is_removed(keys, workers):
    ours, _ = workers
    body = signed_body(keys["old"].read_bytes().strip(), ours.socket.getsockname()[1], 2**40)
    rotating = {"probe_key_file": str(keys["new"]), "previous_probe_key_file": str(keys["old"])}
    with configured(worker_host_template="127.0.0.1", **rotating) as app:
        assert call(app, "probe", body)[0] == 200
    keys["old"].unlink()  # the grace period is over: the previous key leaves the Secret
    with configured(worker_host_template="127.0.0.1", **rotating) as app:
        status, answer = call(app, "probe", body)
    assert status == 403 and "key no longer accepted" in answer["error"]
    assert ours.accepted == 2  # the two workers, once, from the accepted request


def test_without_a_key_the_probe_stays_open(workers):
    ours, _ = workers
    with configured(worker_host_template="127.0.0.1") as app:
        status, _ = call(
            app, "probe", {"namespace": "x", "name": "y", "replicas": 1, "sshPort": ours.socket.getsockname()[1]}
        )
    assert status == 200 and ours.accepted == 1


def test_the_signature_covers_every_field():
    job = SignedJob(namespace="ns", name="job", uid=UID, replicas=4, min_replicas=2, slots=1, ssh_port=2222,
                    expires=10**10)  # fmt: skip
    base = signing.signature(job, b"k" * 32)
    for field, value in [("namespace", "nt"), ("name", "jo"), ("uid", "u"), ("replicas", 5), ("min_replicas", 3),
                         ("slots", 2), ("ssh_port", 22), ("expires", 10**10 + 1)]:  # fmt: skip
        assert signing.signature(replace(job, **{field: value}), b"k" * 32) != base, field
