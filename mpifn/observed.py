"""The children Metacontroller observed, from either hook request version."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from mpifn import api
from mpifn.errors import RequestError

JsonObject = dict[str, Any]

# Fields the API server owns; a child echoed back must not carry them.
_SERVER_METADATA = (
    "creationTimestamp",
    "generation",
    "managedFields",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
    "deletionTimestamp",
    "finalizers",
)


@dataclass(frozen=True)
class Observed:
    by_kind_and_name: dict[tuple[str, str], JsonObject]

    def get(self, kind: str, name: str) -> JsonObject | None:
        return self.by_kind_and_name.get((kind, name))

    def lacks_any(self, desired: list[JsonObject]) -> bool:
        """Whether a child asked for does not exist yet."""
        return any(self.get(child["kind"], child["metadata"]["name"]) is None for child in desired)

    def desired_forms(self) -> list[JsonObject]:
        """What the operator last asked for, for every observed child, so that echoing it
        back changes nothing (used when the spec can no longer be understood)."""
        return [desired_form(self.by_kind_and_name[key]) for key in sorted(self.by_kind_and_name)]


def observed_children(children: Any) -> Observed:
    """Index the request's `children` ({"Kind.group/version": {name or ns/name: object}})."""
    if children is None:
        return Observed({})
    if not isinstance(children, dict):
        raise RequestError(f"children: must be an object keyed by Kind.version, got {type(children).__name__}")
    found: dict[tuple[str, str], JsonObject] = {}
    for rule, objects in children.items():
        if not isinstance(objects, dict):
            raise RequestError(f"children[{rule!r}]: must be an object keyed by child name")
        # The rule is the children's Kind.group/version (Kind.version in the core group).
        rule_kind, _, rule_version = rule.partition(".")
        for key, child in objects.items():
            where = f"children[{rule!r}][{key!r}]"
            metadata = child.get("metadata") if isinstance(child, dict) else None
            name = metadata.get("name") if isinstance(metadata, dict) else None
            if not isinstance(name, str):
                raise RequestError(f"{where}: must be an object with metadata.name")
            for field, of_rule in (("kind", rule_kind), ("apiVersion", rule_version)):
                value = child.get(field)
                if value is not None and not isinstance(value, str):
                    raise RequestError(f"{where}.{field}: must be a string")
                if value and value != of_rule:  # echoed under another key, it would read as gone
                    raise RequestError(f"{where}.{field}: {value!r} is not the {field} its key {rule!r} names")
            # Past the check above, a child's kind and apiVersion are its key's, or absent.
            found_problems = object_problems(child, where) + _data_problems(child, rule_kind, where)
            if found_problems:
                raise RequestError("; ".join(found_problems))
            if not child.get("kind") or not child.get("apiVersion"):  # echoed whole by desired_form
                child = {**child, "kind": rule_kind, "apiVersion": rule_version}
            found[(rule_kind, name)] = child
    return Observed(found)


# RFC 3339 in UTC at whole seconds: how the API server writes a time (metav1.Time), and the
# one form the hooks read and write (lifecycle.timestamp).
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII)


def parse_timestamp(value: str) -> datetime:
    """The moment `value` names; ValueError for anything but that form (or a date no calendar
    has). Not strptime: its first call imports locale tables, 3 ms of a function's cold start."""
    if not _TIMESTAMP.fullmatch(value):
        raise ValueError(f"not a timestamp of the form 2006-01-02T15:04:05Z: {value!r}")
    return datetime.fromisoformat(value)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_timestamp(value)
    except ValueError:
        return False
    return True


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_list_of_objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


_MUST_BE = {
    _is_integer: "an integer",
    _is_string: "a string",
    _is_time: "a time such as 2026-01-31T12:00:00Z",
    _is_object: "an object",
    _is_list_of_objects: "a list of objects",
}
_COUNTS = ("replicas", "readyReplicas", "active", "ready", "succeeded", "failed", "terminating")
# The status fields the hooks read, by the check their value must pass (when not null).
_STATUS_CHECKS = {
    **dict.fromkeys(
        ("replicas", "readyReplicas", "active", "ready", "succeeded", "failed", "terminating"), _is_integer
    ),
    **dict.fromkeys(("phase", "reason", "message"), _is_string),
    **dict.fromkeys(("startTime", "completionTime"), _is_time),
    **dict.fromkeys(("workers", "launcher"), _is_object),
    "conditions": _is_list_of_objects,
}
_METADATA_TYPES = (("namespace", str), ("generation", int), ("annotations", dict), ("labels", dict))
# Every condition's fields the hooks read or carry over: strings on every API server and in
# the MPIJob's schema (a condition whose status is not a string would read as not "True").
# Left out is allowed: a PodGroup's may be.
_CONDITION_FIELDS = ("type", "status", "reason", "message", "lastTransitionTime")


def object_problems(obj: JsonObject, where: str) -> list[str]:
    """What the API server guarantees about an object's metadata and status and the hooks
    rely on; anything else is a request that cannot have come from it (HTTP 400)."""
    problems = []
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        return [f"{where}.metadata: must be an object"]
    for field, kind in _METADATA_TYPES:
        value = metadata.get(field)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            problems.append(f"{where}.metadata.{field}: must be a {kind.__name__}")
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict) and not isinstance(annotations.get(api.LAST_APPLIED_ANNOTATION, ""), str):
        problems.append(f"{where}.metadata.annotations[{api.LAST_APPLIED_ANNOTATION}]: must be a string")
    status = obj.get("status")
    if status is None:
        return problems
    if not isinstance(status, dict):
        return [*problems, f"{where}.status: must be an object"]
    for field, value in status.items():
        check = _STATUS_CHECKS.get(field)
        if check is not None and value is not None and not check(value):
            problems.append(f"{where}.status.{field}: must be {_MUST_BE[check]}")
    if _is_list_of_objects(status.get("conditions")):
        problems += [
            f"{where}.status.conditions[{index}].{field}: must be a string"
            for index, condition in enumerate(status["conditions"])
            for field in _CONDITION_FIELDS
            if condition.get(field) is not None and not isinstance(condition[field], str)
        ]
    return problems


def _data_problems(child: JsonObject, kind: str, where: str) -> list[str]:
    """A Secret's data, which sync echoes: base64 strings by key on every API server."""
    data = child.get("data")
    if kind != "Secret" or data is None:
        return []
    if isinstance(data, dict) and all(isinstance(value, str) for value in data.values()):
        return []
    return [f"{where}.data: must be an object of strings (base64, as the API server holds a Secret's data)"]


def desired_form(child: JsonObject) -> JsonObject:
    """What the operator last asked for: the JSON of the child's last-applied annotation,
    when it is an object of the child's own apiVersion, kind and name whose fields are objects
    where the child's are; else (no annotation, or one anything may have edited into another
    shape) the child itself without its status and the fields the API server owns."""
    applied = ((child.get("metadata") or {}).get("annotations") or {}).get(api.LAST_APPLIED_ANNOTATION)
    if applied:
        try:
            form = orjson.loads(applied)
        except ValueError:
            form = None
        if _same_object(form, child):
            return form
    stripped = {key: value for key, value in child.items() if key != "status"}
    metadata = dict(child.get("metadata", {}))
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    stripped["metadata"] = metadata
    return stripped


def _same_object(form: Any, child: JsonObject) -> bool:
    if not isinstance(form, dict) or not isinstance(form.get("metadata"), dict):
        return False
    if any(form.get(key) != child.get(key) for key in ("apiVersion", "kind")):
        return False
    if form["metadata"].get("name") != (child.get("metadata") or {}).get("name"):
        return False
    return all(isinstance(value, dict) for key, value in form.items() if isinstance(child.get(key), dict))
