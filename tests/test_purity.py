"""What docs/design.md and mpifn.hooks claim is pure, held: a hook's answer is a function of
its arguments (the request, the settings, the time and the key source); it reads no clock,
no environment and no state a call leaves behind, and asks the key source only for what it
needs. The edge (create_app) reads the clock once per request and hands that time on."""

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mpifn import hooks, signing, web
from mpifn.children.launcher import signed_in
from mpifn.keys import FileKeys
from mpifn.settings import Settings
from mpifn.sshkeys import SshKeyPair
from testkit import calls
from testkit.calls import FixedKeys
from testkit.metacontroller import as_observed, hook_request, with_status
from tests.support.hypothesis_profiles import for_properties
from tests.test_properties import valid_parents

# Long past: a timestamp taken from the real clock anywhere would show.
T = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
PROBE_KEY = b"a-probe-key-of-32-random-characters"


@dataclass
class RecordingClock:
    """A clock that answers `now` and counts how often it was asked."""

    now: datetime = T
    calls: int = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return self.now


@dataclass
class CountingKeys:
    """FixedKeys that count what the hooks ask of them."""

    inner: FixedKeys
    asked: dict[str, int] = field(default_factory=dict)

    def _count(self, what: str) -> None:
        self.asked[what] = self.asked.get(what, 0) + 1

    def new_ssh_key_pair(self) -> SshKeyPair:
        self._count("new_ssh_key_pair")
        return self.inner.new_ssh_key_pair()

    def signing_key(self) -> bytes | None:
        self._count("signing_key")
        return self.inner.signing_key()

    def accepted_keys(self) -> list[bytes]:
        self._count("accepted_keys")
        return self.inner.accepted_keys()


def signing_keys(tmp_path: Path) -> FixedKeys:
    key = tmp_path / "probe.key"
    key.write_bytes(PROBE_KEY)
    return FixedKeys(files=FileKeys(str(key)))


def answer_bytes(hook: Any, request: Any, settings: Settings, now: datetime, keys: Any) -> bytes:
    return web.json_reply(hook(request, settings, now, keys)).body


@for_properties(share=0.25)
@given(parent=valid_parents(), finalizing=st.booleans(), observed=st.booleans(), minutes=st.integers(0, 10**6))
def test_the_same_request_and_arguments_give_the_same_answer_and_leave_the_request_as_it_was(
    parent, finalizing, observed, minutes, tmp_path_factory
):
    keys = signing_keys(tmp_path_factory.getbasetemp())
    settings, now = Settings(), T + timedelta(minutes=minutes)
    request = hook_request(parent)
    if observed:  # a job whose children exist: the hooks read them
        first = hooks.sync(request, settings, now, keys)
        request = hook_request({**parent, "status": first["status"]}, as_observed(first["children"]))
    request["finalizing"] = finalizing
    kept = copy.deepcopy(request)
    hook = hooks.finalize if finalizing else hooks.sync
    once = answer_bytes(hook, request, settings, now, keys)
    assert request == kept
    assert answer_bytes(hook, request, settings, now, keys) == once
    # ... and the same again after other jobs went through the same process.
    hooks.sync(hook_request({**parent, "metadata": {**parent["metadata"], "name": "other"}}), settings, now, keys)
    assert answer_bytes(hook, copy.deepcopy(kept), settings, now, keys) == once


def test_the_edge_asks_its_clock_once_per_request_and_no_hook_reads_the_real_one(hello, tmp_path):
    clock = RecordingClock()
    app = calls.app(clock=clock, keys=signing_keys(tmp_path), functions=["sync", "finalize"])
    reply = calls.post(app, "sync", hook_request({**hello, "metadata": {**hello["metadata"], "uid": "u-1"}}))
    assert (reply.status, clock.calls) == (200, 1)
    answer = json.loads(reply.body)
    stamped = [value for key, value in answer["status"].items() if key.endswith("Time")] + [
        condition["lastTransitionTime"] for condition in answer["status"]["conditions"]
    ]
    assert stamped and all(value == "2001-02-03T04:05:06Z" for value in stamped), stamped
    launcher = next(c for c in answer["children"] if c["kind"] == "Job")
    job, _ = signed_in(launcher["spec"]["template"])  # type: ignore[misc]
    assert job.expires == int(T.timestamp()) + signing.ticket_lifetime(Settings(), None)
    finalized = calls.post(app, "finalize", hook_request(hello, as_observed(answer["children"]), finalizing=True))
    assert (finalized.status, clock.calls) == (200, 2)


def test_the_probe_checks_a_signature_at_the_clocks_time(tmp_path):
    keys = signing_keys(tmp_path)
    clock = RecordingClock()
    app = calls.app(Settings(worker_host_template="127.0.44.{index}"), clock=clock, keys=keys, functions=["probe"])
    job = signing.SignedJob(namespace="default", name="hello", uid="u-1", replicas=1, min_replicas=1, slots=1,
                            ssh_port=2222, expires=int(T.timestamp()) + 60)  # fmt: skip
    body = {"namespace": "default", "name": "hello", "uid": "u-1", "replicas": 1, "minReplicas": 1, "slots": 1,
            "sshPort": 2222, "expires": job.expires, "signature": signing.signature(job, PROBE_KEY),
            "timeoutSeconds": 0.2}  # fmt: skip
    reply = calls.post(app, "probe", body)  # long expired by the real clock; not by this one
    assert (reply.status, clock.calls) == (200, 1), reply.body
    clock.now = T + timedelta(minutes=2)
    assert calls.post(app, "probe", body).status == 403


def test_the_hooks_read_no_environment(hello, monkeypatch):
    monkeypatch.setenv("MPIFN_MAX_REPLICAS", "1")
    monkeypatch.setenv("MPIFN_PROBE_KEY_FILE", "/nonexistent/key")
    hello["spec"]["replicas"] = 2
    answer = hooks.sync(hook_request(hello), Settings(), T, FixedKeys())
    assert answer["status"]["phase"] != "Failed" and answer["children"]
    assert calls.post(calls.app(Settings(), functions=["sync"]), "sync", hook_request(hello)).status == 200


def test_the_key_source_is_asked_only_for_what_a_sync_needs(hello, tmp_path):
    keys = CountingKeys(signing_keys(tmp_path))
    first = hooks.sync(hook_request(hello), Settings(), T, keys)
    assert keys.asked == {"new_ssh_key_pair": 1, "signing_key": 1}  # a new job: its key pair, its launcher signed
    keys.asked.clear()
    running = with_status(as_observed(first["children"]), "Job", {"active": 1})
    again = hooks.sync(hook_request({**hello, "status": first["status"]}, running), Settings(), T, keys)
    assert keys.asked == {}  # the Secret and the launcher exist: nothing to make or check
    assert again["children"] == first["children"]
