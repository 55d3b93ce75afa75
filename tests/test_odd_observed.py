"""Odd values in what Metacontroller hands the hooks (issue 22, section 1): each example a
value of another JSON type at one path of an observed child, of the JSON inside its
last-applied annotation, or of the controller. Never a 5xx: a 200 that keeps every observed
child, or a 4xx naming the path. tests/test_properties.py generalises them to any path."""

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mpifn import api
from mpifn.endpoints import App
from mpifn.settings import Settings
from testkit import calls
from testkit.metacontroller import CHILD_RULES, as_observed, hook_request, with_status

LAST_APPLIED = api.LAST_APPLIED_ANNOTATION
ODD = [None, True, 7, 1.5, "x", [], [1], {}]  # one of each JSON type, empty and not


def json_type(value: Any) -> str:
    return "null" if value is None else "number" if type(value) in (int, float) else type(value).__name__


def others(original: Any) -> list[Any]:
    """ODD without the values of the original's JSON type."""
    return [value for value in ODD if json_type(value) != json_type(original)]


SECRET = "children['Secret.v1']['default/hello-ssh']"
LAUNCHER = "children['Job.batch/v1']['default/hello-launcher']"


APP = calls.app(functions=["sync", "finalize"])


def post(function: str, request: Any, path: str = "/", app: App = APP) -> tuple[int, Any]:
    reply = calls.post(app, function, request, path=path)
    assert reply.status < 500, reply.body[:500]
    return reply.status, json.loads(reply.body)


def steady(parent: dict[str, Any], launcher: dict[str, Any] | None = None, now: datetime | None = None, app: App = APP):
    """The job's sync request once its children exist: workers half ready, the launcher
    active (or as given), the status the previous sync wrote."""
    first = calls.sync(hook_request(parent), now=now, settings=app.settings)
    observed = with_status(as_observed(first["children"]), "StatefulSet", {"replicas": 2, "readyReplicas": 1})
    observed = with_status(observed, "Job", launcher if launcher is not None else {"active": 1})
    return {**parent, "status": first["status"]}, observed


def request_of(parent: dict[str, Any], observed: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A sync request of its own (hook_request shares the objects it is given)."""
    return copy.deepcopy(hook_request(parent, observed, **fields))


def child(request: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = request["children"][CHILD_RULES[kind]].values()
    return found


def keys(children: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(c["kind"], c["metadata"]["name"]) for c in children}


def with_last_applied(request: dict[str, Any], kind: str, change) -> dict[str, Any]:
    """The request with `change` applied to the JSON in the child's last-applied annotation."""
    changed = copy.deepcopy(request)
    annotations = child(changed, kind)["metadata"]["annotations"]
    applied = json.loads(annotations[LAST_APPLIED])
    annotations[LAST_APPLIED] = json.dumps(change(applied))
    return changed


def answers_keeping_every_child(request: dict[str, Any], app: App = APP) -> list[dict[str, Any]]:
    """sync's and finalize's 200 answers, each asking for every observed child (finalize
    has the job's own explanation go: the job is being deleted)."""
    observed = {(c["kind"], c["metadata"]["name"]) for rule in request["children"].values() for c in rule.values()}
    answers = []
    for function, finalizing in (("sync", False), ("finalize", True)):
        status, answer = post(function, {**request, "finalizing": finalizing}, app=app)
        assert status == 200, answer
        for asked in answer["children"]:
            assert isinstance(asked["apiVersion"], str) and isinstance(asked["kind"], str), asked
            assert isinstance(asked["metadata"]["name"], str), asked
        assert keys(answer["children"]) == observed
        answers.append(answer)
    return answers


def launcher_template(answer: dict[str, Any]) -> Any:
    return next(c for c in answer["children"] if c["kind"] == "Job")["spec"]["template"]


@contextmanager
def signing(tmp_path: Path) -> Iterator[App]:
    """The functions with a probe key: sync signs launchers."""
    key = tmp_path / "probe.key"
    key.write_text("a-probe-key-of-32-random-characters")
    yield calls.app(Settings(probe_key_file=str(key)), functions=["sync", "finalize"])


# --------------------------------------------------------------------------- the ssh Secret


@pytest.mark.parametrize("data", ["c3NoLWtleQ==", ["ssh-privatekey"], [], 7, 1.5, True, {"ssh-privatekey": 7}])
@pytest.mark.parametrize("function", ["sync", "finalize"])
def test_secret_data_of_another_type_is_a_400_naming_it(hello, data, function):
    """A Secret's data is an object of base64 strings on every API server: anything else
    was not sent by one, and neither a new key pair nor the odd value may replace it."""
    parent, observed = steady(hello)
    request = request_of(parent, observed, finalizing=function == "finalize")
    child(request, "Secret")["data"] = data
    status, answer = post(function, request)
    assert status == 400
    assert answer["error"].startswith(f"{SECRET}.data: must be an object of strings")


def test_secret_data_null_or_empty_is_filled_with_a_new_key_pair(hello):
    parent, observed = steady(hello)
    for data in (None, {}):
        request = request_of(parent, observed)
        child(request, "Secret")["data"] = data
        secret = next(c for c in post("sync", request)[1]["children"] if c["kind"] == "Secret")
        assert sorted(secret["data"]) == ["ssh-privatekey", "ssh-publickey"]


# --------------------------------------------------------------------------- a child's kind and apiVersion


@pytest.mark.parametrize("field", ["kind", "apiVersion"])
def test_a_childs_kind_or_api_version_of_another_type_is_a_400_naming_it(hello, field):
    parent, observed = steady(hello)
    for value in [True, 7, 1.5, [], ["Secret"], {}]:
        request = request_of(parent, observed)
        child(request, "Secret")[field] = value
        status, answer = post("sync", request)
        assert status == 400 and answer["error"] == f"{SECRET}.{field}: must be a string"


@pytest.mark.parametrize("field", ["kind", "apiVersion"])
def test_a_child_without_kind_or_api_version_is_echoed_with_those_of_its_rule(hello, field):
    parent, observed = steady(hello)
    parent["spec"]["replicas"] = "many"
    for value in [None, ""]:
        request = request_of(parent, observed)
        for objects in request["children"].values():
            for each in objects.values():
                each[field] = value
                each["metadata"]["annotations"] = {}  # nothing recorded: echoed from the child itself
        status, answer = post("sync", request)
        assert status == 200 and answer["status"]["reason"] == "SpecInvalid"
        rules = {f"{c['kind']}.{c['apiVersion']}" for c in answer["children"]}
        assert rules == {rule for rule, objects in request["children"].items() if objects}


# --------------------------------------------------------------------------- the last-applied annotation


@pytest.mark.parametrize("spec", ODD)
def test_a_launcher_whose_last_applied_spec_is_odd_keeps_its_own_template(hello, spec):
    parent, observed = steady(hello)
    request = request_of(parent, observed)
    odd = with_last_applied(request, "Job", lambda applied: {**applied, "spec": spec})
    for answer in answers_keeping_every_child(odd):
        # Never a template of its own: a Job's template is immutable.
        assert launcher_template(answer) == child(request, "Job")["spec"]["template"]


@pytest.mark.parametrize("template", ODD)
def test_a_launcher_whose_last_applied_template_is_odd_keeps_its_own_template(hello, template):
    parent, observed = steady(hello)
    request = request_of(parent, observed)

    def odd_template(applied):
        applied["spec"]["template"] = template
        return applied

    for answer in answers_keeping_every_child(with_last_applied(request, "Job", odd_template)):
        assert launcher_template(answer) == child(request, "Job")["spec"]["template"]


@pytest.mark.parametrize("applied", [*ODD, {"kind": "Job"}, {"metadata": "x"}, {"metadata": {"name": 7}}])
@pytest.mark.parametrize("kind", sorted(set(CHILD_RULES) - {"MPIJobExplanation"}))
def test_an_invalid_edit_echoes_each_child_itself_when_its_last_applied_json_is_not_one(hello, applied, kind):
    """The JSON of a last-applied annotation that is not an object of the child's kind and
    name: the child is echoed from what the API server holds, never as that JSON."""
    parent, observed = steady(hello)
    parent["spec"]["replicas"] = "many"
    request = request_of(parent, observed)
    odd = with_last_applied(request, kind, lambda _: applied)
    status, answer = post("sync", odd)
    assert status == 200 and answer["status"]["reason"] == "SpecInvalid"
    echoed = next(c for c in answer["children"] if c["kind"] == kind)
    itself = child(request, kind)
    assert echoed["apiVersion"] == itself["apiVersion"] and echoed["metadata"]["name"] == itself["metadata"]["name"]
    assert keys(answer["children"]) == keys(observed)


@pytest.mark.parametrize("field", ["apiVersion", "kind", "metadata", "spec"])
def test_an_invalid_edit_echoes_the_child_itself_when_its_last_applied_json_has_an_odd_field(hello, field):
    parent, observed = steady(hello)
    parent["spec"]["replicas"] = "many"
    request = request_of(parent, observed)
    for value in others(child(request, "StatefulSet")[field]):
        odd = with_last_applied(request, "StatefulSet", lambda applied, value=value: {**applied, field: value})
        status, answer = post("sync", odd)
        assert status == 200
        echoed = next(c for c in answer["children"] if c["kind"] == "StatefulSet")
        assert echoed["spec"] == child(request, "StatefulSet")["spec"], (field, value)


# --------------------------------------------------------------------------- signed launchers


INIT_STEP = ("spec", "template", "spec", "initContainers", 0)
# Where a launcher Job holds its signed fields; a name in a list is the env item of that name.
SIGNED_FIELDS = {
    "template": ("spec", "template"),
    "template.spec": ("spec", "template", "spec"),
    "initContainers": ("spec", "template", "spec", "initContainers"),
    "initContainers[0]": INIT_STEP,
    "env": (*INIT_STEP, "env"),
    "env[signature]": (*INIT_STEP, "env", "MPIFN_PROBE_SIGNATURE"),
    "env[signature].name": (*INIT_STEP, "env", "MPIFN_PROBE_SIGNATURE", "name"),
    "env[signature].value": (*INIT_STEP, "env", "MPIFN_PROBE_SIGNATURE", "value"),
    "env[replicas].value": (*INIT_STEP, "env", "MPIFN_REPLICAS", "value"),
}


def _step(holder: Any, part: Any) -> Any:
    if isinstance(holder, list) and isinstance(part, str):
        return next(index for index, item in enumerate(holder) if item["name"] == part)
    return part


def at(job: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        job = job[_step(job, part)]
    return job


def put(job: Any, path: tuple[Any, ...], value: Any) -> None:
    holder = at(job, path[:-1])
    holder[_step(holder, path[-1])] = value


def not_started_and_signed(hello, app: App):
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    suspended = {"conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended"}]}
    parent, observed = steady(hello, suspended, now, app)
    return request_of(parent, observed)


@pytest.mark.parametrize("where", sorted(SIGNED_FIELDS))
def test_a_signed_launcher_not_started_is_kept_whatever_its_last_applied_init_step_holds(hello, tmp_path, where):
    """Signing on, the launcher suspended and not started: its last-applied annotation is
    a record, not the Job. Whatever it holds where the signature was written, the launcher
    is neither refused nor made again; only a refused signature in the Job itself is
    (tests/test_signing.py)."""
    with signing(tmp_path) as app:
        request = not_started_and_signed(hello, app)
        for value in [*ODD, "forged", "2"]:

            def odd(applied, value=value):
                put(applied, SIGNED_FIELDS[where], copy.deepcopy(value))
                return applied

            changed = with_last_applied(request, "Job", odd)
            recorded = json.loads(child(changed, "Job")["metadata"]["annotations"][LAST_APPLIED])
            for answer in answers_keeping_every_child(changed, app):
                # The Job's template as it is, or as its record says (an echo changes nothing).
                template = launcher_template(answer)
                assert template in (child(request, "Job")["spec"]["template"], recorded["spec"]["template"])


@pytest.mark.parametrize("where", sorted(SIGNED_FIELDS))
def test_a_signed_launcher_not_started_whose_init_step_cannot_be_read_is_kept(hello, tmp_path, where):
    """A value of another JSON type where the Job's own template holds its signed fields:
    no API server sends that, and nothing tells whether the probe would refuse what the
    launcher sends, so it stays."""
    with signing(tmp_path) as app:
        request = not_started_and_signed(hello, app)
        expected = launcher_template(post("sync", request, app=app)[1])
        for value in others(at(child(request, "Job"), SIGNED_FIELDS[where])):
            odd = copy.deepcopy(request)
            put(child(odd, "Job"), SIGNED_FIELDS[where], copy.deepcopy(value))
            for answer in answers_keeping_every_child(odd, app):
                assert launcher_template(answer) == expected, value


def test_a_signed_launcher_not_started_whose_own_signature_is_refused_is_made_again(hello, tmp_path):
    """The same place holding a string the probe refuses: the Job itself says what the
    launcher sends, so it goes and comes back signed afresh."""
    with signing(tmp_path) as app:
        request = not_started_and_signed(hello, app)
        put(child(request, "Job"), SIGNED_FIELDS["env[signature].value"], "forged")
        status, answer = post("sync", request, app=app)
    assert status == 200 and "Job" not in {c["kind"] for c in answer["children"]}


# --------------------------------------------------------------------------- statuses and the controller


@pytest.mark.parametrize("field", ["type", "status", "reason", "message", "lastTransitionTime"])
def test_a_condition_field_of_another_type_is_a_400_naming_it(hello, field):
    """A failed launcher whose condition's status is not a string would read as one not
    started yet; the API server types every condition field, so this is no request of its."""
    failed = {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}
    parent, observed = steady(hello, failed)
    for value in [None, True, 7, [], {}]:
        request = request_of(parent, observed)
        child(request, "Job")["status"]["conditions"][0][field] = value
        status, answer = post("sync", request)
        if value is None:  # as if left out
            assert status == 200
            continue
        assert status == 400, (field, value)
        assert answer["error"].startswith(f"{LAUNCHER}.status.conditions[0].{field}: must be a string")


@pytest.mark.parametrize("field", ["type", "status", "lastTransitionTime"])
def test_a_condition_field_of_the_parents_status_of_another_type_is_a_400_naming_it(hello, field):
    parent, observed = steady(hello)
    parent["status"]["conditions"][1][field] = 7
    status, answer = post("sync", request_of(parent, observed))
    assert status == 400
    assert answer["error"].startswith(f"parent.status.conditions[1].{field}: must be a string")


@pytest.mark.parametrize("api_version", [["scheduling.volcano.sh/v1beta1"], {"v": 1}, 7, None])
def test_a_controller_whose_child_rule_names_an_odd_api_version_asks_for_no_gang(hello, api_version):
    parent, observed = steady(hello)
    controller = {"spec": {"childResources": [{"apiVersion": api_version, "resource": "podgroups"}]}}
    for function, finalizing in (("sync", False), ("finalize", True)):
        request = request_of(parent, observed, controller=controller, finalizing=finalizing)
        status, answer = post(function, request)
        assert status == 200
        assert "PodGroup" not in {c["kind"] for c in answer["children"]}


@pytest.mark.parametrize(("field", "value"), [("kind", "0"), ("apiVersion", "apps/v1")])
def test_a_child_whose_kind_or_version_its_key_does_not_name_is_a_400(hello, field, value):
    """An invalid spec echoes the observed children: one echoed as another kind would read to
    Metacontroller as its child gone (found by `make fuzz`)."""
    parent, observed = steady(hello)
    request = request_of({**parent, "spec": {**parent["spec"], "replicas": None}}, observed)
    child(request, "ConfigMap")[field] = value
    status, answer = post("sync", request)
    rule = CHILD_RULES["ConfigMap"]
    assert (status, answer["error"]) == (
        400,
        f"children[{rule!r}]['default/hello-config'].{field}: {value!r} is not the {field} its key {rule!r} names",
    )
