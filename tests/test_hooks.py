"""The sync and finalize hooks: the Metacontroller contract, fixed points and teardown."""

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from mpifn.errors import RequestError
from testkit import calls
from testkit.metacontroller import as_observed, hook_request, with_status

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def settle(parent, now=T0):
    """Sync once, then again with the children it asked for observed and the status it wrote."""
    first = calls.sync(hook_request(parent), now=now)
    parent = {**parent, "status": first["status"]}
    return parent, as_observed(first["children"]), first


def canonical(response):
    return json.dumps(response, sort_keys=True)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_feeding_back_its_children_gives_the_same_answer(hello, version):
    parent, observed, first = settle(hello)
    later = T0 + timedelta(minutes=5)
    second = calls.sync(hook_request(parent, observed, version=version), now=later)
    third = calls.sync(hook_request({**parent, "status": second["status"]}, observed, version=version), now=later)
    assert second["children"] == first["children"]
    assert canonical(second) == canonical(third)


def test_status_times_do_not_move_when_nothing_changed(hello):
    parent, observed, first = settle(hello)
    second = calls.sync(hook_request(parent, observed), now=T0 + timedelta(hours=1))
    assert second["status"]["startTime"] == first["status"]["startTime"] == "2026-11-28T12:00:00Z"
    assert [c["lastTransitionTime"] for c in second["status"]["conditions"]] == [
        c["lastTransitionTime"] for c in first["status"]["conditions"]
    ]


def test_the_ssh_secret_is_generated_once_then_taken_from_the_observed_child(hello):
    parent, observed, first = settle(hello)
    secret = next(c for c in first["children"] if c["kind"] == "Secret")
    again = calls.sync(hook_request(parent, observed))
    assert next(c for c in again["children"] if c["kind"] == "Secret")["data"] == secret["data"]
    fresh = calls.sync(hook_request(hello))
    assert next(c for c in fresh["children"] if c["kind"] == "Secret")["data"] != secret["data"]


def test_workers_ready_and_launcher_active_is_running(hello):
    parent, observed, _ = settle(hello)
    observed = with_status(observed, "StatefulSet", {"replicas": 2, "readyReplicas": 2})
    observed = with_status(observed, "Job", {"active": 1})
    status = calls.sync(hook_request(parent, observed), now=T0)["status"]
    assert (status["phase"], status["reason"]) == ("Running", "LauncherRunning")
    assert status["workers"] == {"desired": 2, "current": 2, "ready": 2}
    assert status["message"] == "running: launcher active, 2/2 workers ready"


def test_pending_says_what_it_waits_for(hello):
    hello["spec"]["replicas"] = 4
    parent, observed, _ = settle(hello)
    observed = with_status(observed, "StatefulSet", {"replicas": 4, "readyReplicas": 2})
    status = calls.sync(hook_request(parent, observed), now=T0)["status"]
    assert status["phase"] == "Pending"
    assert status["message"] == "waiting for workers: 2/4 workers ready, 2 not ready (mpirun starts once 4 answer SSH)"


def test_launcher_success_finishes_the_job_and_removes_workers(hello):
    parent, observed, _ = settle(hello)
    observed = with_status(observed, "Job", {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
    done = calls.sync(hook_request(parent, observed), now=T0 + timedelta(minutes=3))
    assert done["status"]["phase"] == "Succeeded"
    assert done["status"]["completionTime"] == "2026-11-28T12:03:00Z"
    statefulset = next(c for c in done["children"] if c["kind"] == "StatefulSet")
    assert statefulset["spec"]["replicas"] == 0


def test_launcher_failure_carries_the_jobs_reason(hello):
    parent, observed, _ = settle(hello)
    failed = {
        "type": "Failed",
        "status": "True",
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit",
    }
    observed = with_status(observed, "Job", {"failed": 1, "conditions": [failed]})
    status = calls.sync(hook_request(parent, observed), now=T0)["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert "Job has reached the specified backoff limit" in status["message"]
    condition = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert (condition["status"], condition["reason"]) == ("True", "BackoffLimitExceeded")


def test_an_invalid_edit_keeps_the_phase_and_children_with_a_spec_invalid_condition(hello):
    parent, observed, first = settle(hello)
    observed = with_status(observed, "StatefulSet", {"replicas": 2, "readyReplicas": 2})
    observed = with_status(observed, "Job", {"active": 1})
    running = calls.sync(hook_request(parent, observed), now=T0)["status"]
    broken = copy.deepcopy({**parent, "status": running})
    broken["spec"].update({"replicas": "two", "sshPort": 0})
    response = calls.sync(hook_request(broken, observed), now=T0 + timedelta(minutes=1))
    status = response["status"]
    assert (status["phase"], status["reason"]) == ("Running", "SpecInvalid")
    assert status["message"] == (
        'spec edit not applied: spec.replicas: must be an integer >= 1, got "two"; spec.sshPort: must be >= 1, '
        "got 0; the job stays Running as it was"
    )
    condition = next(c for c in status["conditions"] if c["type"] == "SpecInvalid")
    assert (condition["status"], condition["message"]) == ("True", status["message"])
    assert status["workers"] == running["workers"] and status["startTime"] == running["startTime"]
    assert response["children"] == first["children"]
    again = calls.sync(hook_request({**broken, "status": status}, observed), now=T0 + timedelta(minutes=2))
    assert canonical(again) == canonical(response)  # a fixed point while the edit stays

    fixed = {**parent, "status": status}
    healed = calls.sync(hook_request(fixed, observed), now=T0 + timedelta(minutes=3))["status"]
    assert (healed["phase"], healed["reason"]) == ("Running", "LauncherRunning")
    assert "SpecInvalid" not in [c["type"] for c in healed["conditions"]]


def test_an_invalid_edit_echoes_a_child_whose_annotations_are_null(hello):
    parent, observed, _ = settle(hello)
    config = next(child for child in observed if child["kind"] == "ConfigMap")
    config["metadata"]["annotations"] = None  # no last-applied copy: the object itself is echoed
    broken = copy.deepcopy(parent)
    broken["spec"]["replicas"] = None
    response = calls.sync(hook_request(broken, observed), now=T0)
    echoed = next(c for c in response["children"] if c["kind"] == "ConfigMap")
    assert echoed["data"] == config["data"]


def test_an_invalid_edit_of_a_finished_job_keeps_how_it_ended(hello):
    parent, observed, _ = settle(hello)
    failed = with_status(observed, "Job", {"failed": 1, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "backoff"}]})  # fmt: skip
    ended = calls.sync(hook_request(parent, failed), now=T0)["status"]
    broken = copy.deepcopy({**parent, "status": ended})
    broken["spec"]["replicas"] = 0
    invalid = calls.sync(hook_request(broken, failed), now=T0)["status"]
    assert (invalid["phase"], invalid["reason"]) == ("Failed", "SpecInvalid")
    healed = calls.sync(hook_request({**parent, "status": invalid}, failed), now=T0)["status"]
    assert (healed["phase"], healed["reason"], healed["message"]) == ("Failed", ended["reason"], ended["message"])


def test_a_job_that_never_had_a_valid_spec_fails_with_invalid_spec(hello):
    hello["spec"].update({"replicas": "two", "sshPort": 0})
    response = calls.sync(hook_request(hello), now=T0)
    assert (response["status"]["phase"], response["status"]["reason"]) == ("Failed", "InvalidSpec")
    assert response["status"]["message"] == (
        'invalid spec: spec.replicas: must be an integer >= 1, got "two"; spec.sshPort: must be >= 1, got 0'
    )


def test_invalid_spec_without_children_creates_none(hello):
    hello["spec"]["minReplicas"] = 5
    response = calls.sync(hook_request(hello), now=T0)
    assert response["children"] == []
    assert "spec.minReplicas: must be at most spec.replicas (2), got 5" in response["status"]["message"]


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ([], "request: must be a JSON object"),
        ({"children": {}}, "parent: required"),
        ({"parent": {"kind": "MPIJob"}}, "parent.metadata.name: required"),
        ({"parent": {"metadata": {"name": "x"}}, "children": []}, "children: must be an object"),
    ],
)
def test_malformed_requests_raise_instead_of_answering(request_body, message):
    with pytest.raises(RequestError, match=message):
        calls.sync(request_body)


@pytest.mark.parametrize("spec_edit", [{}, {"replicas": "two"}], ids=["valid", "edited-invalid"])
def test_finalize_stops_the_launcher_before_the_workers(hello, spec_edit):
    """Also for a job whose spec a bad edit made unreadable: from what was last applied."""
    parent, observed, _ = settle(hello)
    parent = {**parent, "spec": {**parent["spec"], **spec_edit}}
    running = with_status(with_status(observed, "Job", {"active": 1}), "StatefulSet", {"replicas": 2})
    first = calls.finalize(hook_request(parent, running, finalizing=True), now=T0)
    kinds = {c["kind"]: c for c in first["children"]}
    assert sorted(kinds) == sorted(c["kind"] for c in observed), "no child is taken away before the pods stop"
    assert first["finalized"] is False
    assert kinds["Job"]["spec"]["suspend"] is True
    assert kinds["StatefulSet"]["spec"]["replicas"] == 2

    launcher_gone = with_status(running, "Job", {"active": 0})
    second = calls.finalize(hook_request(parent, launcher_gone, finalizing=True), now=T0)
    assert second["finalized"] is False
    assert next(c for c in second["children"] if c["kind"] == "StatefulSet")["spec"]["replicas"] == 0

    all_stopped = with_status(launcher_gone, "StatefulSet", {"replicas": 0})
    third = calls.finalize(hook_request(parent, all_stopped, finalizing=True), now=T0)
    assert third["finalized"] is True
    again = calls.finalize(hook_request(parent, all_stopped, finalizing=True), now=T0)
    assert canonical(again) == canonical(third)


def test_finalize_never_generates_a_new_secret(hello):
    response = calls.finalize(hook_request(hello, finalizing=True), now=T0)
    assert response["finalized"] is True
    assert [c["kind"] for c in response["children"] if c["kind"] == "Secret"] == []


def test_sync_with_finalizing_set_tears_down(hello):
    parent, observed, _ = settle(hello)
    running = with_status(observed, "Job", {"active": 1})
    response = calls.sync(hook_request(parent, running, finalizing=True), now=T0)
    assert response["finalized"] is False


def test_finalize_never_recreates_a_launcher_that_clean_up_removed(hello):
    hello["spec"]["runPolicy"] = {"cleanPodPolicy": "All"}
    parent, observed, _ = settle(hello)
    done = calls.sync(hook_request(parent, with_status(observed, "Job", {"succeeded": 1, "conditions": [
        {"type": "Complete", "status": "True"}]})), now=T0)  # fmt: skip
    without_launcher = [c for c in observed if c["kind"] != "Job"]
    response = calls.finalize(
        hook_request({**parent, "status": done["status"]}, without_launcher, finalizing=True), now=T0
    )
    assert "Job" not in [c["kind"] for c in response["children"]]
    assert response["finalized"] is True


def test_finalize_after_the_ttl_recreates_nothing(hello):
    hello["spec"]["runPolicy"] = {"ttlSecondsAfterFinished": 1}
    parent, observed, _ = settle(hello)
    done = calls.sync(hook_request(parent, with_status(observed, "Job", {"succeeded": 1, "conditions": [
        {"type": "Complete", "status": "True"}]})), now=T0)  # fmt: skip
    finished = {**parent, "status": done["status"]}
    response = calls.finalize(hook_request(finished, [], finalizing=True), now=T0 + timedelta(seconds=5))
    assert (response["children"], response["finalized"]) == ([], True)


@pytest.mark.parametrize(
    "start", ["2026-02-30T12:00:00Z", "\u0662\u0660\u0662\u0666-11-28T12:00:00Z", "2026-11-28T12:00:00Z\n"]
)
def test_a_time_in_no_form_the_api_server_writes_is_refused_naming_it(hello, start):
    parent, _, first = settle(hello)
    odd = {**parent, "status": {**first["status"], "startTime": start}}
    with pytest.raises(RequestError, match=r"parent\.status\.startTime: must be a time such as"):
        calls.sync(hook_request(odd), now=T0)
