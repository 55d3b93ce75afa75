"""Build hook requests the way Metacontroller does, and feed responses back as observed."""

import copy
from typing import Any

from mpifn import api

CHILD_RULES = {
    "Service": "Service.v1",
    "StatefulSet": "StatefulSet.apps/v1",
    "Secret": "Secret.v1",
    "ConfigMap": "ConfigMap.v1",
    "Job": "Job.batch/v1",
    "MPIJobExplanation": "MPIJobExplanation.mpifn.dev/v1",
}
# The MPIJob controller as shipped: it asks for explanations (mpifn.explain).
EXPLAINING_CONTROLLER = {"metadata": {"labels": {"mpifn.dev/pod-status": "explain"}}}
LAST_APPLIED = api.LAST_APPLIED_ANNOTATION


def hook_request(
    parent: dict[str, Any],
    children: list[dict[str, Any]] | None = None,
    version: str = "v2",
    finalizing: bool = False,
    related: dict[str, Any] | None = None,
    controller: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A sync request whose observed children are `children` (every rule keyed, even empty)
    and whose `related` objects (the customize hook's) are `related`; the controller is an
    empty object unless given."""
    observed: dict[str, dict[str, Any]] = {rule: {} for rule in CHILD_RULES.values()}
    namespace = parent.get("metadata", {}).get("namespace", "default")
    for child in children or []:
        name = child["metadata"]["name"]
        key = f"{namespace}/{name}" if version == "v2" else name
        observed[CHILD_RULES[child["kind"]]][key] = child
    return {
        "controller": controller or {},
        "parent": parent,
        "children": observed,
        "related": related or {},
        "finalizing": finalizing,
    }


def as_observed(desired: list[dict[str, Any]], namespace: str = "default") -> list[dict[str, Any]]:
    """What the API server would hold after applying `desired`: server fields and the
    last-applied annotation added, as Metacontroller does."""
    import json

    observed = []
    for index, child in enumerate(desired):
        stored = copy.deepcopy(child)
        metadata = stored["metadata"]
        metadata.setdefault("namespace", namespace)
        metadata["uid"] = f"uid-{index}"
        metadata["resourceVersion"] = str(100 + index)
        metadata.setdefault("annotations", {})[LAST_APPLIED] = json.dumps(child, sort_keys=True)
        observed.append(stored)
    return observed


def with_status(children: list[dict[str, Any]], kind: str, status: dict[str, Any]) -> list[dict[str, Any]]:
    result = copy.deepcopy(children)
    for child in result:
        if child["kind"] == kind:
            child["status"] = status
    return result
