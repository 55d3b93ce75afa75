"""The children Metacontroller observed, from either hook request version."""

import re
from dataclasses import dataclass
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
        for key, child in objects.items():
            metadata = child.get("metadata") if isinstance(child, dict) else None
            name = metadata.get("name") if isinstance(metadata, dict) else None
            if not isinstance(name, str) or not isinstance(child.get("kind", ""), str):
                raise RequestError(f"children[{rule!r}][{key!r}]: must be an object with metadata.name")
            found_problems = object_problems(child, f"children[{rule!r}][{key!r}]")
            if found_problems:
                raise RequestError("; ".join(found_problems))
            found[(child.get("kind") or rule.split(".", 1)[0], name)] = child
    return Observed(found)


_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_time(value: Any) -> bool:
    return isinstance(value, str) and _TIMESTAMP.match(value) is not None


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
# The status fields the hooks read, by the check their value must pass (when not null).
_STATUS_CHECKS = {
    **dict.fromkeys(("replicas", "readyReplicas", "active", "ready", "succeeded", "failed"), _is_integer),
    **dict.fromkeys(("phase", "reason", "message"), _is_string),
    **dict.fromkeys(("startTime", "completionTime"), _is_time),
    **dict.fromkeys(("workers", "launcher"), _is_object),
    "conditions": _is_list_of_objects,
}
_METADATA_TYPES = (("namespace", str), ("generation", int), ("annotations", dict), ("labels", dict))


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
    return problems


def desired_form(child: JsonObject) -> JsonObject:
    applied = ((child.get("metadata") or {}).get("annotations") or {}).get(api.LAST_APPLIED_ANNOTATION)
    if applied:
        try:
            form = orjson.loads(applied)
        except ValueError:
            form = None
        if isinstance(form, dict):
            return form
    stripped = {key: value for key, value in child.items() if key != "status"}
    metadata = dict(child.get("metadata", {}))
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    stripped["metadata"] = metadata
    return stripped
