"""The children Metacontroller observed, from either hook request version."""

import json
from dataclasses import dataclass
from typing import Any

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
            name = child.get("metadata", {}).get("name") if isinstance(child, dict) else None
            if not isinstance(name, str):
                raise RequestError(f"children[{rule!r}][{key!r}]: must be an object with metadata.name")
            found[(child.get("kind") or rule.split(".", 1)[0], name)] = child
    return Observed(found)


def desired_form(child: JsonObject) -> JsonObject:
    applied = child.get("metadata", {}).get("annotations", {}).get(api.LAST_APPLIED_ANNOTATION)
    if applied:
        try:
            form = json.loads(applied)
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
