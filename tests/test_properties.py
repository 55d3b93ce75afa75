"""Property tests (Hypothesis) over generated MPIJobs and hook requests.

Each property runs CI_EXAMPLES (2,000) examples in CI, MPIFN_FUZZ_EXAMPLES under
`make fuzz` (tests/support/hypothesis_profiles.py). Hooks are called through the real
HTTP edge in-process (`web.respond` with the shipped endpoint handlers: JSON in, status
code and JSON out); a smaller share of examples goes over a real `mpifn.serve` server.
"""

import base64
import copy
import dataclasses
import json
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from hypothesis import assume, event, given, note
from hypothesis import strategies as st

from mpifn import api, explain, naming, probe, signing, web
from mpifn.children import podgroup
from mpifn.endpoints import App
from mpifn.errors import RequestError
from mpifn.settings import Settings
from testkit import calls
from testkit import pods as shapes
from testkit.metacontroller import CHILD_RULES, as_observed, hook_request
from tests.conftest import EXAMPLES, load_yaml
from tests.support import odd
from tests.support.hypothesis_profiles import for_properties
from tests.support.kubernetes import name_rule_problems, validate_strict
from tests.support.pod_security import pod_templates_of, restricted_problems
from tests.support.strict_schema import validate_strict_fast

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
FINISHED = ("Succeeded", "Failed")

# --------------------------------------------------------------------------- strategies


def _label(max_inner: int, first: str = "a-z") -> st.SearchStrategy[str]:
    return st.from_regex(rf"\A[{first}]([-a-z0-9]{{0,{max_inner}}}[a-z0-9])?\Z")


job_names = st.one_of(_label(naming.MAX_JOB_NAME - 2), st.just("a" * naming.MAX_JOB_NAME), st.just("hello"))
namespaces = st.one_of(_label(61, "a-z0-9"), st.just("default"))
label_values = st.from_regex(r"\A([A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?)?\Z")
labels = st.dictionaries(
    st.from_regex(r"\A(example\.com/)?[a-z]([-a-z0-9]{0,10}[a-z0-9])?\Z"), label_values, max_size=3
)
images = st.sampled_from(["mpifn/mpibase:0.1.0", "registry.example:5000/team/mpi@sha256:" + "a" * 64, "busybox"])
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
env_vars = st.lists(
    st.fixed_dictionaries({"name": st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,15}\Z"), "value": words}),
    max_size=3,
    unique_by=lambda item: item["name"],
)
# Settings a user may put in a template that the restricted profile allows.
CONTAINER_CONTEXTS = [
    None,
    {"runAsUser": 2000},
    {"readOnlyRootFilesystem": True},
    {"capabilities": {"add": ["NET_BIND_SERVICE"]}},
    {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
    {"seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/mpi.json"}},
    {"allowPrivilegeEscalation": False, "runAsGroup": 3000},
]
POD_CONTEXTS = [None, {"runAsUser": 1234, "fsGroup": 1234}, {"supplementalGroups": [5, 6]}, {"runAsNonRoot": True}]
VOLUME_SOURCES = [
    {"emptyDir": {}},
    {"emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
    {"configMap": {"name": "settings"}},
    {"secret": {"secretName": "dataset-credentials"}},
    {"persistentVolumeClaim": {"claimName": "scratch"}},
]


@st.composite
def containers(draw: st.DrawFn, name: str, volumes: list[str], runs_mpirun: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": draw(images)}
    if runs_mpirun:
        container["command"] = draw(st.lists(words, min_size=1, max_size=3))
        if draw(st.booleans()):
            container["args"] = draw(st.lists(words, max_size=4))
    if draw(st.booleans()):
        container["env"] = draw(env_vars)
    ports = draw(st.lists(st.integers(1, 65535), max_size=2, unique=True))
    if ports:
        container["ports"] = [{"containerPort": port, "protocol": "TCP"} for port in ports]
    if draw(st.booleans()):
        container["resources"] = {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "250m"}}
    mounted = draw(st.lists(st.sampled_from(volumes), unique=True)) if volumes else []
    if mounted:
        container["volumeMounts"] = [{"name": v, "mountPath": f"/data/{v}"} for v in mounted]
    context = draw(st.sampled_from(CONTAINER_CONTEXTS))
    if context is not None:
        container["securityContext"] = copy.deepcopy(context)
    return container


@st.composite
def pod_templates(draw: st.DrawFn, runs_mpirun: bool = True) -> dict[str, Any]:
    volume_names = draw(st.lists(st.from_regex(r"\Av-[a-z0-9]{1,8}\Z"), max_size=3, unique=True))
    names = draw(st.lists(_label(8), min_size=1, max_size=4, unique=True))
    split = draw(st.integers(1, len(names)))
    spec: dict[str, Any] = {
        "containers": [draw(containers(n, volume_names, runs_mpirun and i == 0)) for i, n in enumerate(names[:split])]
    }
    if names[split:]:
        spec["initContainers"] = [draw(containers(n, volume_names, False)) for n in names[split:]]
    if volume_names:
        spec["volumes"] = [{"name": v, **copy.deepcopy(draw(st.sampled_from(VOLUME_SOURCES)))} for v in volume_names]
    if draw(st.booleans()):
        spec["nodeSelector"] = {"kubernetes.io/arch": "amd64"}
    if draw(st.booleans()):
        spec["tolerations"] = [{"key": "hpc", "operator": "Exists", "effect": "NoSchedule"}]
    if draw(st.booleans()):
        spec["imagePullSecrets"] = [{"name": "registry"}]
    if draw(st.booleans()):
        spec["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 10,
                        "podAffinityTerm": {"labelSelector": {"matchLabels": {"a": "b"}}, "topologyKey": "zone"},
                    }
                ]
            }
        }
    context = draw(st.sampled_from(POD_CONTEXTS))
    if context is not None:
        spec["securityContext"] = copy.deepcopy(context)
    template: dict[str, Any] = {"spec": spec}
    if draw(st.booleans()):
        template["metadata"] = {"labels": draw(labels), "annotations": {"team": draw(words)}}
    return template


def _spelled(draw: st.DrawFn, spec: dict[str, Any], name: str, seed_name: str, values: st.SearchStrategy) -> None:
    """Our spelling, the seed's, both (agreeing) or neither."""
    choice = draw(st.sampled_from(["none", "ours", "seed", "both"]))
    if choice != "none":
        value = draw(values)
        if choice in ("ours", "both"):
            spec[name] = value
        if choice in ("seed", "both"):
            spec[seed_name] = value


@st.composite
def valid_parents(draw: st.DrawFn) -> dict[str, Any]:
    # Mostly small; up to 256 for long hostfiles (test_children covers the operator's maximum).
    replicas = draw(st.one_of(st.integers(1, 8), st.integers(1, 256)))
    spec: dict[str, Any] = {"replicas": replicas}
    if draw(st.booleans()):
        spec["minReplicas"] = draw(st.integers(1, replicas))
    _spelled(draw, spec, "daemons", "daemon", st.booleans())
    _spelled(draw, spec, "slotsPerWorker", "slots", st.integers(1, 128))
    if draw(st.booleans()):
        spec["image"] = draw(images)
    if draw(st.booleans()):
        spec["mpiImplementation"] = draw(st.sampled_from(["OpenMPI", "MPICH", "IntelMPI"]))
    if draw(st.booleans()):
        spec["sshPort"] = draw(st.integers(1, 65535))
    layout = draw(st.sampled_from(["shared", "shared+launcher", "shared+worker", "both"]))
    if layout != "both":
        spec["template"] = draw(pod_templates())
    if layout in ("shared+launcher", "both"):
        spec["launcher"] = {"template": draw(pod_templates())}
    if layout in ("shared+worker", "both"):
        spec["worker"] = {"template": draw(pod_templates(runs_mpirun=False))}
    policy = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "cleanPodPolicy": st.sampled_from(["None", "Running", "All"]),
                "ttlSecondsAfterFinished": st.integers(0, 10**6),
                "activeDeadlineSeconds": st.integers(1, 10**6),
                "backoffLimit": st.integers(0, 6),
                "suspend": st.booleans(),
            },
        )
    )
    if policy or draw(st.booleans()):
        spec["runPolicy"] = policy
    metadata = {"name": draw(job_names), "namespace": draw(namespaces), "generation": draw(st.integers(1, 10**6))}
    return {"apiVersion": draw(st.sampled_from([api.API_VERSION, api.SEED_API_VERSION])), "kind": "MPIJob",
            "metadata": metadata, "spec": spec}  # fmt: skip


LAUNCHER_STATUSES = [
    None,
    {},
    {"active": 1, "ready": 1},
    {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
    {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                  "message": "Job has reached the specified backoff limit"}]},
    {"conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended"}]},
]  # fmt: skip


@st.composite
def world_statuses(draw: st.DrawFn, replicas: int) -> dict[str, dict[str, Any] | None]:
    """What the cluster reports about the launcher Job and the worker StatefulSet."""
    current = draw(st.integers(0, replicas))
    workers = draw(st.sampled_from([None, {"replicas": current, "readyReplicas": draw(st.integers(0, current))}]))
    return {"Job": draw(st.sampled_from(LAUNCHER_STATUSES)), "StatefulSet": workers}


def observe(children: list[dict[str, Any]], namespace: str, statuses: dict[str, Any]) -> list[dict[str, Any]]:
    observed = as_observed(children, namespace)
    for child in observed:
        if statuses.get(child["kind"]) is not None:
            child["status"] = copy.deepcopy(statuses[child["kind"]])
    return observed


# --------------------------------------------------------------------------- the HTTP edge, in-process


class LogLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every line the functions log (the 'mpifn' logger does not propagate to the root)."""
    handler = LogLines()
    logger = logging.getLogger("mpifn")
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


APP = calls.app()


def call(
    function: str, body: bytes | Any, method: str = "POST", query: dict[str, str] | None = None, app: App = APP
) -> web.Reply:
    return calls.post(app, function, body, method=method, query=query)


def answer_of(reply: web.Reply) -> dict[str, Any]:
    assert reply.status == 200, reply.body[:500]
    return json.loads(reply.body)


def keys(children: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(child["kind"], child["metadata"]["name"]) for child in children}


# --------------------------------------------------------------------------- properties


def test_the_cached_strict_validator_agrees_with_kubernetes_validate(hello):
    children = answer_of(call("sync", hook_request(hello)))["children"]
    for child in children:
        validate_strict(child)
        validate_strict_fast(child)
    broken = copy.deepcopy(next(c for c in children if c["kind"] == "StatefulSet"))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    for check in (validate_strict, validate_strict_fast):
        with pytest.raises(Exception, match="is not of type 'string'"):
            check(broken)


@for_properties()
@given(parent=valid_parents())
def test_every_valid_spec_yields_valid_restricted_children(parent):
    """200 with five children, each valid for the API server (strict schema, name rules),
    every pod template within Pod Security "restricted"."""
    answer = answer_of(call("sync", hook_request(parent)))
    assert answer["status"]["reason"] != "InvalidSpec", answer["status"]["message"]
    children = answer["children"]
    assert {kind for kind, _ in keys(children)} == {"Service", "StatefulSet", "Secret", "ConfigMap", "Job"}
    for child in children:
        validate_strict_fast(child)
        assert name_rule_problems(child, parent["spec"]["replicas"]) == []
    for where, template in pod_templates_of(children).items():
        assert restricted_problems(template["spec"], template.get("metadata")) == [], where
        assert pod_api_problems(template["spec"]) == [], where


def pod_api_problems(spec: dict[str, Any]) -> list[str]:
    """Pod rules the API server checks beyond the schema: unique names, mounts that exist."""
    problems = []
    everyone = [*(spec.get("initContainers") or []), *spec["containers"]]
    names = [c["name"] for c in everyone]
    volumes = [v["name"] for v in spec.get("volumes") or []]
    if len(set(names)) != len(names):
        problems.append(f"duplicate container names {names}")
    if len(set(volumes)) != len(volumes):
        problems.append(f"duplicate volume names {volumes}")
    for container in everyone:
        mounts = container.get("volumeMounts") or []
        paths = [m["mountPath"] for m in mounts]
        if len(set(paths)) != len(paths):
            problems.append(f"{container['name']}: duplicate mount paths {paths}")
        unknown = [m["name"] for m in mounts if m["name"] not in volumes]
        problems += [f"{container['name']}: mounts unknown volume {name}" for name in unknown]
        port_names = [p["name"] for p in container.get("ports") or [] if "name" in p]
        if len(set(port_names)) != len(port_names):
            problems.append(f"{container['name']}: duplicate port names {port_names}")
        variables = [e["name"] for e in container.get("env") or []]
        if len(set(variables)) != len(variables):
            problems.append(f"{container['name']}: duplicate env {variables}")
    return problems


@for_properties()
@given(parent=valid_parents(), data=st.data())
def test_sync_is_a_fixed_point(parent, data):
    """Fresh job: its own children fed back as observed give the same children; once they
    exist (the status says so), the whole answer stays the same, later too.
    Any cluster state: feeding the answer back settles within three syncs, then stays."""
    namespace = parent["metadata"]["namespace"]
    first = answer_of(call("sync", hook_request(parent)))
    fed = calls.sync(hook_request({**parent, "status": first["status"]}, as_observed(first["children"], namespace)),
                     now=T0 + timedelta(minutes=5))  # fmt: skip
    assert fed["children"] == first["children"]
    again = calls.sync(hook_request({**parent, "status": fed["status"]}, as_observed(fed["children"], namespace)),
                       now=T0 + timedelta(minutes=10))  # fmt: skip
    # resyncAfterSeconds counts down to a deadline or TTL: only its presence is stable
    assert {**again, "resyncAfterSeconds": 0} == {**fed, "resyncAfterSeconds": 0}

    statuses = data.draw(world_statuses(parent["spec"]["replicas"]))
    answers = [calls.sync(hook_request(parent, observe(first["children"], namespace, statuses)), now=T0)]
    for _ in range(3):
        previous = answers[-1]
        request = hook_request({**parent, "status": previous["status"]},
                               observe(previous["children"], namespace, statuses))  # fmt: skip
        answers.append(calls.sync(request, now=T0))
        if answers[-1] == previous:
            break
    assert answers[-1] == answers[-2], f"no fixed point after {len(answers)} syncs"  # same `now`: resync too


secret_data = st.dictionaries(
    st.sampled_from(["ssh-privatekey", "ssh-publickey", "extra"]),
    st.binary(min_size=1, max_size=64).map(lambda raw: base64.b64encode(raw).decode()),
    min_size=1,
)


@for_properties()
@given(
    parent=valid_parents(),
    data=secret_data,
    statuses=st.data(),
    spec_breaks=st.booleans(),
    hook=st.sampled_from(["sync", "finalize"]),
)
def test_the_ssh_secret_never_changes_once_observed(parent, data, statuses, spec_breaks, hook):
    namespace = parent["metadata"]["namespace"]
    first = calls.sync(hook_request(parent), now=T0)
    for child in first["children"]:
        if child["kind"] == "Secret":
            child["data"] = data
    observed = observe(first["children"], namespace, statuses.draw(world_statuses(parent["spec"]["replicas"])))
    if spec_breaks:
        parent = copy.deepcopy(parent)
        parent["spec"]["replicas"] = "many"
    request = hook_request({**parent, "status": first["status"]}, observed, finalizing=hook == "finalize")
    answer = answer_of(call(hook, request))
    secrets = [child for child in answer["children"] if child["kind"] == "Secret"]
    assert [secret["data"] for secret in secrets] in ([data], [])
    if not secrets:  # only a finished job past its TTL, or a deleted job, lets the Secret go
        assert hook == "finalize" or answer["status"]["phase"] in FINISHED


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
SPEC_PATHS = [
    "replicas", "minReplicas", "daemons", "daemon", "slots", "slotsPerWorker", "image", "mpiImplementation",
    "sshPort", "template", "template.spec", "template.spec.containers", "template.spec.containers.0",
    "template.spec.containers.0.env", "template.spec.volumes", "template.metadata", "template.metadata.labels",
    "launcher", "launcher.template", "worker", "worker.template", "runPolicy", "runPolicy.suspend",
    "runPolicy.cleanPodPolicy", "runPolicy.backoffLimit", "runPolicy.activeDeadlineSeconds", "surprise",
]  # fmt: skip
PARENT_PATHS = [
    "apiVersion", "kind", "metadata", "metadata.name", "metadata.namespace", "metadata.generation", "spec",
    "status", "status.conditions", "status.conditions.0", "status.startTime", "status.completionTime",
    "status.phase", "status.workers",
]  # fmt: skip
CHILD_PATHS = ["", "metadata", "metadata.name", "metadata.annotations", "metadata.annotations.LASTAPPLIED",
               "status", "status.conditions", "status.replicas", "status.readyReplicas", "status.active",
               "kind"]  # fmt: skip
PRIVATE_MARKER = "MPIFNPRIVATEKEYMARKER"


def _set(target: Any, path: str, value: Any) -> None:
    """Set `path` inside nested dicts/lists to `value` (delete it when value is ...);
    missing or scalar steps on the way become empty objects."""
    parts = [part.replace("LASTAPPLIED", api.LAST_APPLIED_ANNOTATION) for part in path.split(".")]
    for part in parts[:-1]:
        if isinstance(target, list):
            if not target or not part.isdigit():
                return
            target = target[int(part) % len(target)]
        elif isinstance(target, dict):
            if not isinstance(target.get(part), dict | list):
                target[part] = {}
            target = target[part]
        else:
            return
    last = parts[-1]
    if isinstance(target, list) and target and last.isdigit():
        if value is ...:
            del target[int(last) % len(target)]
        else:
            target[int(last) % len(target)] = value
    elif isinstance(target, dict):
        if value is ...:
            target.pop(last, None)
        else:
            target[last] = value


@st.composite
def settled_requests(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A running job's sync request (its children observed), the Secret holding a marked key."""
    parent = draw(valid_parents())
    first = calls.sync(hook_request(parent), now=T0)
    for child in first["children"]:
        if child["kind"] == "Secret":
            pem = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PRIVATE_MARKER}\n-----END OPENSSH PRIVATE KEY-----\n"
            child["data"]["ssh-privatekey"] = base64.b64encode(pem.encode()).decode()
    observed = observe(first["children"], parent["metadata"]["namespace"], {"Job": {"active": 1}})
    return hook_request({**parent, "status": first["status"]}, observed), observed


@st.composite
def malformed(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, str]]]:
    """A settled request broken in one or more places, as bytes; and what it observed."""
    request, _ = draw(settled_requests())
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["spec", "parent", "child", "rule", "children", "request"]))
        value = draw(JUNK | st.just(...))
        if not isinstance(request, dict):
            break
        if where == "spec":
            _set(request, "parent.spec." + draw(st.sampled_from(SPEC_PATHS)), value)
        elif where == "parent":
            path = draw(st.sampled_from(PARENT_PATHS))
            if path == "metadata.name":  # a parent is never renamed: only names that cannot be a job
                assume(not isinstance(value, str) or naming.job_name_problem(value) is not None)
            _set(request, "parent." + path, value)
        elif where == "child" and isinstance(request.get("children"), dict) and request["children"]:
            rule = draw(st.sampled_from(sorted(request["children"])))
            if isinstance(request["children"][rule], dict) and request["children"][rule]:
                key = draw(st.sampled_from(sorted(request["children"][rule])))
                path = draw(st.sampled_from(CHILD_PATHS))
                if path == "metadata.name":  # a child is never renamed either
                    assume(value is ... or not isinstance(value, str))
                _set(request["children"][rule], f"{key}.{path}".rstrip("."), value)
        elif where == "rule" and isinstance(request.get("children"), dict):
            _set(request["children"], draw(st.sampled_from(sorted(CHILD_RULES.values()))), value)
        elif where == "children":
            _set(request, "children", value)
        else:
            request = {} if value is ... else value
    body = json.dumps(request).encode()
    observed = still_observed(request)
    if draw(st.integers(0, 9)) == 0:  # sometimes not even JSON
        body = body[: draw(st.integers(0, len(body)))] + draw(st.binary(max_size=8))
    return body, observed


def still_observed(request: Any) -> list[tuple[str, str]]:
    """(kind, name) of every child the broken request still reports as it exists: what
    Metacontroller would delete if the answer left it out."""
    children = request.get("children") if isinstance(request, dict) else None
    found = []
    for rule, objects in (children or {}).items() if isinstance(children, dict) else ():
        for child in objects.values() if isinstance(objects, dict) else ():
            metadata = child.get("metadata") if isinstance(child, dict) else None
            if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
                found.append((rule.split(".", 1)[0], metadata["name"]))
    return found


def check_safe_answer(status: int, body: bytes, observed: list[tuple[str, str]], logs: list[str]) -> None:
    """400 with a JSON error, or 200 that keeps every observed child; no private key anywhere."""
    assert status in (200, 400), body[:500]
    answer = json.loads(body)
    for line in logs:
        assert PRIVATE_MARKER not in line
    if status == 400:
        assert set(answer) == {"error", "status"} and isinstance(answer["error"], str)
        assert PRIVATE_MARKER not in answer["error"]
        return
    assert isinstance(answer["status"], dict) and isinstance(answer["children"], list)
    assert PRIVATE_MARKER not in json.dumps(answer["status"])
    if answer.get("finalized") is None and answer["status"].get("phase") not in FINISHED:
        missing = set(observed) - keys(answer["children"])
        assert not missing, f"answer would delete {sorted(missing)}"
    if answer["status"].get("reason") == "InvalidSpec":
        assert keys(answer["children"]) == set(observed)


@for_properties()
@given(case=malformed())
def test_malformed_requests_never_500_and_never_delete(case):
    body, observed = case
    with captured_logs() as logs:
        reply = call("sync", body)
    check_safe_answer(reply.status, reply.body, observed, logs)


# --------------------------------------------------------------------------- odd values at any path

TS = "2026-11-28T12:00:00Z"
LAUNCHER_REPORTS = [
    None,
    {"active": 1, "ready": 1, "startTime": TS, "terminating": 0, "uncountedTerminatedPods": {}},
    {"active": 0, "ready": 0, "conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended",
                                              "message": "Job suspended", "lastProbeTime": TS,
                                              "lastTransitionTime": TS}]},
    {"failed": 1, "startTime": TS, "conditions": [{"type": "Failed", "status": "True",
                                                   "reason": "BackoffLimitExceeded", "message": "backoff limit",
                                                   "lastProbeTime": TS, "lastTransitionTime": TS}]},
    {"succeeded": 1, "startTime": TS, "completionTime": TS, "conditions": [{"type": "Complete", "status": "True",
                                                                          "lastTransitionTime": TS}]},
]  # fmt: skip
GANG_SCHEDULERS = [None, podgroup.VOLCANO, podgroup.SCHEDULER_PLUGINS]
# When the steady jobs were made, for the whole session: the same draws make the same job, and
# the hooks answer at the clock's time (signatures last a week, deadlines and TTLs a day or more).
STEADY_SINCE = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)


def _worker_pod(draw: st.DrawFn, desired: list[dict[str, Any]], name: str, namespace: str) -> dict[str, Any]:
    pod = shapes.pod_of(desired, "worker", name, namespace)
    return draw(
        st.sampled_from(
            [
                lambda: pod,
                lambda: shapes.unschedulable(pod, shapes.INSUFFICIENT_CPU),
                lambda: shapes.image_pull(pod),
                lambda: shapes.crash_loop(pod, 137, "Error", "killed"),
                lambda: shapes.oom_restarted(pod),
            ]
        )
    )()


@st.composite
def steady_requests(draw: st.DrawFn, key_file: str) -> tuple[dict[str, Any], Settings]:
    """A steady running job's sync request, with the settings it was made under: its children
    observed with statuses as the API server reports them (workers partly ready, the launcher
    in any state, a PodGroup when a gang scheduler is installed), its MPIJobExplanation with
    the status the explain controller wrote from its pods, and the status the previous sync
    wrote; the Secret holds a marked key; the launcher signed or not."""
    parent = draw(valid_parents())
    policy = parent["spec"].get("runPolicy") or {}
    policy.pop("suspend", None)
    for field in ("activeDeadlineSeconds", "ttlSecondsAfterFinished"):  # nothing due while compared
        if policy.get(field, 10**6) < 10**5:
            del policy[field]
    name, namespace = parent["metadata"]["name"], parent["metadata"]["namespace"]
    parent["metadata"].update({"uid": "5f0c7e2a-1b3d-4c5e-8f90-a1b2c3d4e5f6", "resourceVersion": "4711",
                               "creationTimestamp": TS, "labels": {"team": "hpc"}, "annotations": {"note": "x"},
                               "finalizers": ["metacontroller.io/compositecontroller-mpifn"]})  # fmt: skip
    settings = Settings(probe_key_file=key_file if draw(st.booleans()) else "")
    gang = draw(st.sampled_from(GANG_SCHEDULERS))
    controller: dict[str, Any] = {"metadata": {"labels": {explain.POD_STATUS_LABEL: explain.ASKS_FOR_EXPLANATIONS}}}
    if gang is not None:
        controller["spec"] = {"childResources": [{"apiVersion": gang.api_version, "resource": "podgroups"}]}
    first = calls.sync(hook_request(parent, controller=controller), settings=settings, now=STEADY_SINCE)
    desired = first["children"]
    for child in desired:
        if child["kind"] == "Secret":
            pem = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PRIVATE_MARKER}\n-----END OPENSSH PRIVATE KEY-----\n"
            child["data"]["ssh-privatekey"] = base64.b64encode(pem.encode()).decode()
    replicas = parent["spec"]["replicas"]
    current = draw(st.integers(0, replicas))
    ready = draw(st.integers(0, current))
    statuses: dict[str, Any] = {
        "StatefulSet": {"replicas": current, "readyReplicas": ready, "currentReplicas": current,
                        "updatedReplicas": current, "availableReplicas": ready, "observedGeneration": 1,
                        "currentRevision": f"{name}-worker-5d8f7c9b4", "collisionCount": 0},
        "Job": draw(st.sampled_from(LAUNCHER_REPORTS)),
        "Service": {"loadBalancer": {}},
        "PodGroup": {"phase": draw(st.sampled_from(["Pending", "Inqueue", "Running"])), "conditions": [
            {"type": "Unschedulable", "status": "True", "reason": "NotEnoughResources", "message": "1/3 tasks",
             "transitionID": "0f1e", "lastTransitionTime": TS}]},
    }  # fmt: skip
    observed = observe([c for c in desired if c["kind"] != "PodGroup"], namespace, statuses)
    pods = [
        _worker_pod(draw, desired, f"{name}-worker-{index}", namespace)
        for index in draw(st.sets(st.integers(0, replicas - 1), max_size=3))
    ]
    launcher = shapes.pod_of(desired, "launcher", f"{name}-launcher-x7k2p", namespace)
    pods += draw(st.sampled_from([[], [shapes.launcher_running(launcher, "mpifn-init: ok: 2 workers\n")]]))
    told = shapes.explanation_with(parent, pods)
    explanation = as_observed([{key: value for key, value in told.items() if key != "status"}], namespace)[0]
    observed.append({**explanation, "status": told["status"]})
    groups = [c for c in as_observed(desired, namespace) if c["kind"] == "PodGroup"]

    def request_of(status: dict[str, Any]) -> dict[str, Any]:
        request = hook_request({**parent, "status": status}, observed, controller=controller)
        for group in groups:
            group["status"] = statuses["PodGroup"]
            request["children"][f"PodGroup.{group['apiVersion']}"] = {f"{namespace}/{name}": group}
        return copy.deepcopy(request)

    second = calls.sync(request_of(first["status"]), settings=settings, now=STEADY_SINCE)
    return request_of(second["status"]), settings


LAST_APPLIED_PATH = ("metadata", "annotations", api.LAST_APPLIED_ANNOTATION)
ODD_REGIONS = ["child", "child", "child", "last-applied", "last-applied", "parent.status", "parent.metadata",
               "child itself"]  # fmt: skip


@st.composite
def odd_requests(draw: st.DrawFn, key_file: str) -> tuple[dict[str, Any], dict[str, Any], list[odd.Path], Settings]:
    """A steady request, and the same with one to three values replaced, each by one of another
    JSON type, at any path of an observed child, of the JSON inside a child's last-applied
    annotation, of the parent's status or of its metadata; and the paths replaced."""
    request, settings = draw(steady_requests(key_file))
    changed = copy.deepcopy(request)
    replaced: list[odd.Path] = []
    # A second replacement at the same path could bring back the original's type: a parent
    # renamed to another valid name is no odd value but a job that cannot exist.
    touched: set[odd.Path] = set()
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):  # mostly one: more are mostly a 400
        region = draw(st.sampled_from(ODD_REGIONS))
        if region.startswith("parent."):
            base: odd.Path = ("parent", region.split(".")[1])
            if not isinstance(changed["parent"], dict) or base[1] not in changed["parent"]:
                continue
        else:
            children = [("children", rule, key) for rule, objects in changed["children"].items()
                        if isinstance(objects, dict) for key in objects]  # fmt: skip
            if not children:
                continue
            base = draw(st.sampled_from(children))
        if region == "last-applied":
            holder = odd.get(changed, base)
            annotations = holder.get("metadata") if isinstance(holder, dict) else None
            annotations = annotations.get("annotations") if isinstance(annotations, dict) else None
            text = annotations.get(api.LAST_APPLIED_ANNOTATION) if isinstance(annotations, dict) else None
            if not isinstance(text, str):
                continue
            recorded = json.loads(text)
            inner = draw(odd.one_of_evenly(list(odd.paths(recorded))))
            if base + LAST_APPLIED_PATH + inner in touched:
                continue
            touched.add(base + LAST_APPLIED_PATH + inner)
            value = draw(odd.another_type(odd.get(recorded, inner)))
            odd.replace_in_json_text(changed, base + LAST_APPLIED_PATH, inner, value)
            replaced.append(base + LAST_APPLIED_PATH)
            continue
        inside = list(odd.paths(odd.get(changed, base)))
        path = base + draw(odd.one_of_evenly(inside if region != "child" else inside[1:] or inside))
        if path in touched:
            continue
        touched.add(path)
        odd.put(changed, path, draw(odd.another_type(odd.get(changed, path))))
        replaced.append(path)
    assume(replaced)
    return request, changed, replaced, settings


def hook_call(function: str, path: str, request: Any, app: App = APP) -> web.Reply:
    return calls.post(app, function, request, path=path)


def well_formed(children: Any) -> bool:
    return isinstance(children, list) and all(
        isinstance(child, dict)
        and isinstance(child.get("apiVersion"), str)
        and isinstance(child.get("kind"), str)
        and isinstance(child.get("metadata"), dict)
        and isinstance(child["metadata"].get("name"), str)
        for child in children
    )


def launcher_templates(request: dict[str, Any], job: str) -> list[Any]:
    """The templates a launcher Job that exists may be answered with: its own, or its record's."""
    objects = request["children"].get(CHILD_RULES["Job"])
    launcher = objects.get(f"{request['parent']['metadata']['namespace']}/{naming.launcher_name(job)}") if isinstance(
        objects, dict) else None  # fmt: skip
    if not isinstance(launcher, dict):
        return []
    found = []
    text = ((launcher.get("metadata") or {}).get("annotations") or {}).get(api.LAST_APPLIED_ANNOTATION)
    for source in (launcher, json.loads(text) if isinstance(text, str) else None):
        spec = source.get("spec") if isinstance(source, dict) else None
        if isinstance(spec, dict) and isinstance(spec.get("template"), dict) and spec["template"]:
            found.append(spec["template"])
    return found


def check_odd_answer(function: str, reply: web.Reply, baseline: dict[str, Any], case: tuple[Any, ...]) -> None:
    """200 keeping every child the unchanged request kept that is still observed (the
    launcher with its own template), or 4xx naming a replaced path; never 5xx."""
    _, changed, replaced, _ = case
    assert 200 <= reply.status < 500, (function, reply.body[:500])
    assert PRIVATE_MARKER.encode() not in reply.body
    answer = json.loads(reply.body)
    if reply.status != 200:
        assert set(answer) == {"error", "status"} and answer["status"] == reply.status
        # The parent's own status or metadata at least: never "parent" alone.
        assert odd.names_a_path(answer["error"], replaced, {"parent": 2}), answer["error"]
        event(f"{function}: {reply.status}")
        return
    event(f"{function}: 200")
    if function == "customize":
        assert answer == {"relatedResources": []}
        return
    assert isinstance(answer["status"], dict) and well_formed(answer["children"]), answer
    missing = (keys(baseline["children"]) & set(still_observed(changed))) - keys(answer["children"])
    assert not missing, f"{function} would delete {sorted(missing)}"
    job = changed["parent"]["metadata"]["name"]
    launcher = next((c for c in answer["children"] if c["kind"] == "Job"), None)
    templates = launcher_templates(changed, job)
    if launcher is not None and templates:
        baseline_launcher = next((c for c in baseline["children"] if c["kind"] == "Job"), None)
        allowed = [*templates, *([baseline_launcher["spec"]["template"]] if baseline_launcher else [])]
        assert launcher["spec"]["template"] in allowed, "the launcher's template, immutable, would change"
    if function == "finalize":
        assert isinstance(answer["finalized"], bool)


@for_properties()
@given(data=st.data())
def test_odd_values_at_any_path_of_a_steady_job_never_5xx_and_never_delete(data, tmp_path_factory):
    """Any value of a steady job's request (an observed child, the JSON in its last-applied
    annotation, the parent's status or metadata) replaced by one of another JSON type:
    sync, customize and finalize answer 200 asking for every child they asked for before that
    is still observed, or a 4xx naming the path; nothing logs or answers the private key."""
    key_file = tmp_path_factory.getbasetemp() / "odd-values.key"
    key_file.write_text("a-probe-key-of-32-random-characters")
    case = data.draw(odd_requests(str(key_file)))
    request, changed, replaced, settings = case
    note(f"replaced: {', '.join(odd.shown(path) for path in replaced)}")
    app = calls.app(settings, functions=["sync", "finalize"])
    with captured_logs() as logs:
        for function, path, finalizing in (("sync", "/", False), ("customize", "/customize", False),
                                           ("finalize", "/", True)):  # fmt: skip
            endpoint = "finalize" if function == "finalize" else "sync"
            baseline = answer_of(hook_call(endpoint, path, {**request, "finalizing": finalizing}, app))
            reply = hook_call(endpoint, path, {**changed, "finalizing": finalizing}, app)
            check_odd_answer(function, reply, baseline, case)
    assert not any(PRIVATE_MARKER in line for line in logs)
    assert not any('"exception"' in line for line in logs)


@st.composite
def odd_explain_requests(draw: st.DrawFn) -> tuple[dict[str, Any], list[odd.Path]]:
    """The explain controller's request for a job's MPIJobExplanation (with the status it
    wrote) and its pods, one to three values replaced by ones of another JSON type at any path
    of the explanation or of the pods."""
    parent = draw(valid_parents())
    name, namespace = parent["metadata"]["name"], parent["metadata"]["namespace"]
    desired = calls.sync(hook_request(parent), now=T0)["children"]
    pods = [
        _worker_pod(draw, desired, f"{name}-worker-{index}", namespace)
        for index in draw(st.sets(st.integers(0, parent["spec"]["replicas"] - 1), max_size=3))
    ]
    launcher = shapes.pod_of(desired, "launcher", f"{name}-launcher-x7k2p", namespace)
    pods.append(shapes.launcher_init_failed(launcher, "mpifn-init: too-few-workers: 1 of 2\n"))
    request: dict[str, Any] = {
        "controller": {"metadata": {"labels": {explain.POD_STATUS_LABEL: explain.READS_PODS}}},
        "parent": shapes.explanation_with(parent, pods),
        "children": {},
        "related": shapes.related(pods),
    }
    replaced: list[odd.Path] = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        root: odd.Path = (draw(st.sampled_from(["parent", "related"])),)
        path = root + draw(odd.one_of_evenly(list(odd.paths(odd.get(request, root)))))
        odd.put(request, path, draw(odd.another_type(odd.get(request, path))))
        replaced.append(path)
    return request, replaced


@for_properties()
@given(case=odd_explain_requests())
def test_odd_values_in_an_explanation_or_its_pods_never_5xx(case):
    """The explain controller's sync and customize: 200 with a status and no children (or
    the pods to read), or a 4xx naming a replaced path."""
    request, replaced = case
    note(f"replaced: {', '.join(odd.shown(path) for path in replaced)}")
    for path in ("/", "/customize"):
        reply = hook_call("sync", path, request)
        assert 200 <= reply.status < 500, (path, reply.body[:500])
        answer = json.loads(reply.body)
        event(f"{path}: {reply.status}")
        if reply.status != 200:
            assert odd.names_a_path(answer["error"], replaced), answer["error"]
        elif path == "/":
            assert set(answer) == {"status", "children"} and answer["children"] == []
            assert isinstance(answer["status"], dict)
        else:
            assert set(answer) == {"relatedResources"}
            assert all(isinstance(rule, dict) for rule in answer["relatedResources"])


@for_properties()
@given(body=JUNK)
def test_any_json_is_200_or_400_for_every_function(body):
    for function in ("sync", "finalize", "probe"):
        reply = call(function, body, app=LOOPBACK_APP)
        assert reply.status in (200, 400), (function, reply.body[:300])
        if reply.status == 400:
            assert isinstance(json.loads(reply.body)["error"], str)


# The probe is asked about a job; everything else is the caller trying to choose hosts.
PROBE_FIELDS = ["namespace", "name", "replicas", "minReplicas", "slots", "sshPort", "mpiImplementation",
                "timeoutSeconds"]  # fmt: skip
ROGUE_FIELDS = ["hosts", "host", "port", "ports", "address", "addresses", "workers", "hostTemplate", "url"]
probe_values = (
    JUNK
    | st.integers(-3, 10**6)
    | st.sampled_from([10**18, 2**64, "1e9", "nan", "inf", "-1", "2.5", "0x10", "hello", "default", "a.b", "x/y"])
    | st.floats()
)


@st.composite
def probe_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "namespace": draw(namespaces),
        "name": draw(job_names),
        "replicas": draw(st.integers(1, 64)),
    }
    for field in draw(st.lists(st.sampled_from(PROBE_FIELDS + ROGUE_FIELDS), max_size=4)):
        body[field] = draw(probe_values | st.just(...))
        if body[field] is ...:
            del body[field]
    return body


LOOPBACK_WORKERS = "127.0.31.{index}"  # nothing listens there: every connection is refused at once


LOOPBACK_SETTINGS = Settings(worker_host_template=LOOPBACK_WORKERS, max_replicas=64, max_probe_timeout_seconds=0.5)
LOOPBACK_APP = calls.app(LOOPBACK_SETTINGS)


@for_properties()
@given(body=probe_bodies(), as_query=st.booleans())
def test_the_probe_contacts_only_the_named_jobs_workers(body, as_query):
    """Through the probe endpoint (POST JSON or GET query): 400, or exactly the workers
    0..replicas-1 of the job, each under the job's own name; never a host of the caller's."""
    query = {key: str(value) for key, value in body.items()} if as_query else {}
    chosen = LOOPBACK_SETTINGS
    reply = call("probe", b"", "GET", query, LOOPBACK_APP) if as_query else call("probe", body, app=LOOPBACK_APP)
    answer = json.loads(reply.body)
    assert reply.status in (200, 400), reply.body[:300]
    if reply.status == 400:
        return
    job = answer["job"]
    assert 1 <= job["replicas"] <= chosen.max_replicas
    assert 0 < job["timeoutSeconds"] <= chosen.max_probe_timeout_seconds and math.isfinite(job["timeoutSeconds"])
    contacted = sorted(w["host"] for w in answer["reachable"] + answer["unreachable"])
    assert contacted == sorted(LOOPBACK_WORKERS.format(index=i) for i in range(job["replicas"]))
    in_cluster = probe.worker_hosts(
        probe.parse_probe_request(answer_as_request(job), Settings()), Settings().worker_host_template
    )
    for index, host in enumerate(in_cluster):
        assert host == f"{job['name']}-worker-{index}.{job['name']}-worker.{job['namespace']}.svc"
        assert naming.is_dns1123_label(job["name"]) and naming.is_dns1123_label(job["namespace"])


PROBE_KEY = b"property-test-probe-key-0123456789"
SIGNATURE_FIELDS = ["uid", "expires", "signature"]


@st.composite
def maybe_signed_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Any probe body with or without signature fields (junk ones too), or a well-formed job
    signed with the probe's key or another, expired or not, then perhaps one field changed."""
    how = draw(st.sampled_from(["unsigned", "junk", "signed", "signed-then-changed"]))
    if how in ("unsigned", "junk"):
        body = draw(probe_bodies())
        for field in draw(st.lists(st.sampled_from(SIGNATURE_FIELDS), max_size=3)) if how == "junk" else []:
            body[field] = draw(probe_values | st.from_regex(r"\A[0-9a-f]{64}\Z") | st.integers(0, 2**40))
        return body
    replicas = draw(st.integers(1, 64))
    job = signing.SignedJob(
        namespace=draw(namespaces),
        name=draw(job_names),
        uid=draw(st.from_regex(r"\A[-a-z0-9]{0,40}\Z")),
        replicas=replicas,
        min_replicas=draw(st.integers(1, replicas)),
        slots=draw(st.integers(1, 8)),
        ssh_port=draw(st.integers(1, 65535)),
        expires=draw(st.integers(0, 10**9) | st.integers(4 * 10**9, 5 * 10**9)),  # long past, or 2096 on
    )
    body = {"namespace": job.namespace, "name": job.name, "replicas": job.replicas, "minReplicas": job.min_replicas,
            "slots": job.slots, "sshPort": job.ssh_port, "uid": job.uid, "expires": job.expires,
            "signature": signing.signature(job, draw(st.sampled_from([PROBE_KEY, PROBE_KEY, b"x" * 32])))}  # fmt: skip
    if how == "signed-then-changed":
        field = draw(st.sampled_from(PROBE_FIELDS + SIGNATURE_FIELDS))
        body[field] = draw(probe_values | st.integers(0, 2**40) | st.from_regex(r"\A[0-9a-f]{64}\Z"))
    return body


@for_properties()
@given(body=maybe_signed_bodies())
def test_a_probe_with_a_key_verifies_the_signature_or_contacts_nothing(body, tmp_path_factory):
    """Whatever the body: either its fields carry a valid, unexpired signature by the probe's
    key, or the probe resolves no name and opens no socket (and answers 400 or 403)."""
    key_file = tmp_path_factory.getbasetemp() / "probe-property.key"
    key_file.write_bytes(PROBE_KEY)
    contacted: list[list[str]] = []

    class Recording(probe.Prober):
        def contact(self, request: probe.ProbeRequest, hosts: list[str]) -> list[probe.WorkerAnswer]:
            contacted.append(hosts)  # the one way to the network
            return [probe.WorkerAnswer(i, host, "", "timeout", "not contacted") for i, host in enumerate(hosts)]

    settings = dataclasses.replace(LOOPBACK_SETTINGS, probe_key_file=str(key_file))
    reply = call("probe", body, app=calls.app(settings, prober=Recording(), functions=["probe"]))
    assert reply.status in (200, 400, 403), reply.body[:300]
    event(f"status {reply.status}")
    assert bool(contacted) == (reply.status == 200)
    if contacted:
        parsed = probe.parse_probe_request(body, Settings())
        signing.check(parsed.signed_job(), parsed.signature, [PROBE_KEY], datetime.now(UTC).timestamp())
        assert body["signature"] == signing.signature(parsed.signed_job(), PROBE_KEY)


def answer_as_request(job: dict[str, Any]) -> dict[str, Any]:
    return {**job, "timeoutSeconds": min(job["timeoutSeconds"], 1)}


@for_properties()
@given(replicas=st.integers(Settings().max_replicas + 1, 2**63 - 1), where=st.sampled_from(["sync", "probe"]))
def test_replicas_over_the_maximum_are_refused_before_any_work(replicas, where):
    if where == "probe":
        with pytest.raises(RequestError, match=f"probe.replicas: must be at most {Settings().max_replicas}"):
            probe.parse_probe_request({"namespace": "default", "name": "hello", "replicas": replicas}, Settings())
        return
    parent = load_yaml(EXAMPLES / "hello.yaml")
    parent["spec"]["replicas"] = replicas
    status = answer_of(call("sync", hook_request(parent)))["status"]
    assert status["reason"] == "InvalidSpec"
    assert (
        f"spec.replicas: must be at most {Settings().max_replicas} (the operator's MPIFN_MAX_REPLICAS)"
        in status["message"]
    )


@for_properties()
@given(name=st.from_regex(rf"\A[a-z][-a-z0-9]{{{naming.MAX_JOB_NAME - 1},300}}[a-z0-9]\Z"))
def test_names_that_break_a_child_limit_are_invalid_spec(name):
    parent = {"apiVersion": api.API_VERSION, "kind": "MPIJob", "metadata": {"name": name, "namespace": "default"},
              "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "m", "image": "x"}]}}}}  # fmt: skip
    status = answer_of(call("sync", hook_request(parent)))["status"]
    assert status["reason"] == "InvalidSpec"
    assert f"metadata.name: must be at most {naming.MAX_JOB_NAME} characters, got {len(name)}" in status["message"]
    assert "63-character label limit" in status["message"]


# --------------------------------------------------------------------------- over the real server


@pytest.fixture(scope="module")
def small_server(start_server):
    """A real server whose probe may only reach loopback addresses and small jobs."""
    env = {"MPIFN_WORKER_HOST_TEMPLATE": "127.0.32.{index}", "MPIFN_MAX_REPLICAS": "64",
           "MPIFN_MAX_PROBE_TIMEOUT_SECONDS": "0.5"}  # fmt: skip
    with start_server(env) as running:
        yield running


@for_properties(share=0.05)
@given(case=malformed())
def test_malformed_requests_over_the_real_server(small_server, case):
    body, observed = case
    before = small_server.log.stat().st_size
    response = requests.post(small_server.url("sync"), data=body, timeout=10)
    with small_server.log.open() as log:
        log.seek(before)
        lines = log.read().splitlines()
    check_safe_answer(response.status_code, response.content, observed, lines)


@for_properties(share=0.05)
@given(body=probe_bodies(), function=st.sampled_from(["sync", "finalize", "probe"]))
def test_any_body_over_the_real_server_is_200_or_400(small_server, body, function):
    # json.dumps writes NaN/Infinity as Python does; they are not JSON and get a 400.
    response = requests.post(small_server.url(function), data=json.dumps(body), timeout=10)
    assert response.status_code in (200, 400), response.text[:300]
    assert response.headers["Content-Type"] == "application/json"
