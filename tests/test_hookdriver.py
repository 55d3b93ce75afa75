"""The stand-in for Metacontroller (testkit/hookdriver.py) behaves as the real v4.17.2 does.

These are its pure parts and its writes against a fake API server; the cluster
suite runs the same behaviours end to end with either driver.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from typing import Any

import pytest

from testkit import hookcalls, hookdriver
from testkit.apply import LAST_APPLIED, apply_update, last_applied_text, merge
from testkit.hookcalls import retry_after_seconds
from testkit.hookdriver import HookDriver, resync_seconds
from testkit.workqueue import WorkQueue, backoff_seconds


def applied(obj: dict, last: dict) -> dict:
    """A live object whose last-applied annotation is ``last``."""
    live = copy.deepcopy(obj)
    live.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = last_applied_text(last)
    return live


STS = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {"name": "hello-worker", "namespace": "ns", "labels": {"controller-uid": "u1"}},
    "spec": {"replicas": 4, "template": {"spec": {"containers": [{"name": "worker", "image": "a"}]}}},
}


# --------------------------------------------------------------------------- 3-way merge


def test_a_hand_scaled_statefulset_is_scaled_back():
    live = applied(STS, STS)
    live["spec"]["replicas"] = 1  # kubectl scale by hand
    merged = apply_update(live, STS)
    assert merged["spec"]["replicas"] == 4
    assert merged != live  # so the driver writes


def test_unchanged_desired_over_unchanged_live_writes_nothing():
    live = applied(STS, STS)
    live["metadata"].update(uid="x", resourceVersion="7", generation=2)
    live["status"] = {"replicas": 4}
    assert apply_update(live, STS) == live


def test_fields_others_set_are_kept_fields_dropped_by_the_hook_are_removed():
    before = copy.deepcopy(STS)
    before["spec"]["minReadySeconds"] = 5
    live = applied(before, before)
    live["metadata"]["labels"]["team"] = "hpc"  # someone else's label
    live["spec"]["revisionHistoryLimit"] = 10  # defaulted by the API server
    merged = apply_update(live, STS)
    assert merged["metadata"]["labels"] == {"controller-uid": "u1", "team": "hpc"}
    assert merged["spec"]["revisionHistoryLimit"] == 10
    assert "minReadySeconds" not in merged["spec"]
    assert json.loads(merged["metadata"]["annotations"][LAST_APPLIED]) == STS


def test_lists_of_named_objects_merge_item_by_item_other_lists_are_replaced():
    live = {"containers": [{"name": "a", "image": "1", "tty": True}, {"name": "sidecar", "image": "s"}], "args": [1]}
    last = {"containers": [{"name": "a", "image": "1"}], "args": [1]}
    desired = {"containers": [{"name": "a", "image": "2"}, {"name": "b", "image": "3"}], "args": [2]}
    assert merge(live, last, desired) == {
        "containers": [
            {"name": "a", "image": "2", "tty": True},
            {"name": "sidecar", "image": "s"},
            {"name": "b", "image": "3"},
        ],
        "args": [2],
    }


def test_system_metadata_and_status_never_come_from_the_hook():
    desired = copy.deepcopy(STS)
    desired["status"] = {"replicas": 99}
    desired["metadata"]["resourceVersion"] = "1"
    live = applied(STS, desired)
    live["metadata"]["resourceVersion"] = "42"
    merged = apply_update(live, desired)
    assert merged["metadata"]["resourceVersion"] == "42"
    assert "status" not in merged


def test_last_applied_is_written_as_go_does():
    assert (
        last_applied_text({"b": "<&>", "a": [1, {"d": 1, "c": 2}]})
        == '{"a":[1,{"c":2,"d":1}],"b":"\\u003c\\u0026\\u003e"}'
    )


# --------------------------------------------------------------------------- timing rules


def test_resync_is_whole_seconds_at_least_one():
    assert resync_seconds({"resyncPeriodSeconds": 60}) == 60
    assert resync_seconds({"resyncPeriodSeconds": 0}) == 1
    assert resync_seconds({}) == hookdriver.CACHE_FLUSH_SECONDS


def test_retries_after_a_failure_wait_longer_each_time():
    delays = [backoff_seconds(n) for n in range(1, 25)]
    assert delays[0] == 0.005
    growing = delays[:18]  # 5 ms * 2**17 is under the 1000 s cap
    assert all(later > earlier for earlier, later in itertools.pairwise(growing))
    assert delays[-1] == 1000.0


def test_retry_after_is_read_as_seconds_or_as_a_date():
    assert retry_after_seconds("3") == 3
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:10 GMT", now=1767225600.0) == 10
    assert retry_after_seconds(None) == 0
    assert retry_after_seconds("soon") == 0


class Looks(threading.Event):
    """A stop event that lets WorkQueue.get look at the queue `times` times, then stops it."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.left = times

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


def test_queue_hands_a_parent_to_one_worker_at_a_time_and_backs_off():
    queue, stop = WorkQueue(), threading.Event()
    queue.add_after("ns/a")
    assert queue.get(stop) == "ns/a"
    queue.add_after("ns/a")  # changed while being synced: waits for done()
    assert queue.get(Looks(1)) is None  # it looked at the queue and did not hand out the busy key
    got: list[str | None] = []
    thread = threading.Thread(target=lambda: got.append(queue.get(stop)))
    thread.start()
    queue.done("ns/a")
    thread.join(timeout=5)
    assert got == ["ns/a"]
    queue.add_rate_limited("ns/a")
    queue.add_rate_limited("ns/a")
    assert queue._failures["ns/a"] == 2
    queue.forget("ns/a")
    assert "ns/a" not in queue._failures


# --------------------------------------------------------------------------- writes, against a fake API server


class FakeApi:
    """Holds one parent; answers GET and PUT of it, with scripted conflicts."""

    def __init__(self, parent: dict, conflicts: int = 0) -> None:
        self.parent, self.conflicts = parent, conflicts
        self.writes: list[tuple[str, str, Any]] = []

    def __call__(self, method: str, path: str, body: Any = None, patch: str = "") -> tuple[int, Any]:
        if method == "GET":
            return 200, copy.deepcopy(self.parent)
        if method == "PUT":
            self.writes.append((method, path, body))
            if self.conflicts:
                self.conflicts -= 1
                return 409, {"reason": "Conflict"}
            self.parent = copy.deepcopy(body)
            return 200, copy.deepcopy(body)
        raise AssertionError(f"unexpected {method} {path}")


def bare_driver(api: FakeApi) -> HookDriver:
    driver = HookDriver.__new__(HookDriver)
    driver.api = api  # type: ignore[method-assign]
    driver.parent_rule = {"kind": "MPIJob", "base": "/apis/mpifn.dev/v1", "plural": "mpijobs"}
    return driver


PARENT = {
    "apiVersion": "mpifn.dev/v1",
    "kind": "MPIJob",
    "metadata": {"name": "hello", "namespace": "ns", "uid": "u1", "generation": 3, "resourceVersion": "9"},
    "status": {"phase": "Running", "observedGeneration": 3},
}


def test_status_gets_observed_generation_and_is_written_only_when_it_differs():
    api = FakeApi(copy.deepcopy(PARENT))
    driver = bare_driver(api)
    driver._update_status(PARENT, {"phase": "Running"})  # the hook's status without observedGeneration
    assert api.writes == []
    driver._update_status(PARENT, {"phase": "Succeeded"})
    [(_, path, body)] = api.writes
    assert path.endswith("/namespaces/ns/mpijobs/hello/status")
    assert body["status"] == {"phase": "Succeeded", "observedGeneration": 3}


def test_a_status_conflict_is_retried_on_a_fresh_read_then_ignored():
    api = FakeApi(copy.deepcopy(PARENT), conflicts=10)
    driver = bare_driver(api)
    driver._update_status(PARENT, {"phase": "Failed"})  # no exception: the next sync tries again
    assert len(api.writes) == 4


@pytest.mark.parametrize(("status", "error"), [(500, hookcalls.HookError), (429, hookcalls.TooManyRequests)])
def test_a_hook_that_fails_changes_nothing(monkeypatch, status, error):
    driver = HookDriver.__new__(HookDriver)
    driver.controller, driver.hooks = {}, {"sync": {"url": "http://127.0.0.1:1/function/sync", "timeout": "10s"}}
    monkeypatch.setattr(hookcalls, "http", lambda *a, **k: (status, {"error": "x"}, {"Retry-After": "7"}))
    with pytest.raises(error) as raised:
        driver._call_hook("sync", PARENT, {})
    if status == 429:
        assert raised.value.after == 7  # type: ignore[attr-defined]
