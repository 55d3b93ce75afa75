"""What every pod the operator makes shares: Pod Security "restricted" settings and mounts."""

import copy
from typing import Any

from mpifn import api

JsonObject = dict[str, Any]
MPIUSER_ID = 1000

POD_SECURITY: JsonObject = {
    "runAsNonRoot": True,
    "runAsUser": MPIUSER_ID,
    "runAsGroup": MPIUSER_ID,
    "fsGroup": MPIUSER_ID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY: JsonObject = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}

SSH_VOLUME = "mpifn-ssh"
CONFIG_VOLUME = "mpifn-config"
MPI_VOLUME = "mpifn-mpi"


def with_defaults(values: JsonObject | None, defaults: JsonObject) -> JsonObject:
    """`values` with every missing key of `defaults` filled in; the user's own values win."""
    merged = copy.deepcopy(defaults)
    merged.update(copy.deepcopy(values or {}))
    return merged


def hardened_container(container: JsonObject) -> JsonObject:
    result = copy.deepcopy(container)
    result["securityContext"] = with_defaults(container.get("securityContext"), CONTAINER_SECURITY)
    return result


def pod_template(template: JsonObject, labels: dict[str, str]) -> tuple[JsonObject, JsonObject]:
    """A copy of the user's pod template with our labels and the restricted pod settings.

    Returns (metadata, spec) for the caller to finish.
    """
    metadata = copy.deepcopy(template.get("metadata") or {})
    metadata.pop("name", None)
    metadata.pop("namespace", None)
    metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
    spec = copy.deepcopy(template.get("spec") or {})
    spec["securityContext"] = with_defaults(spec.get("securityContext"), POD_SECURITY)
    return metadata, spec


def ssh_volume(secret_name: str) -> JsonObject:
    return {"name": SSH_VOLUME, "secret": {"secretName": secret_name, "defaultMode": 0o440}}


def ssh_mount() -> JsonObject:
    return {"name": SSH_VOLUME, "mountPath": api.SSH_DIR, "readOnly": True}


def env(pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> list[JsonObject]:
    return [{"name": name, "value": value} for name, value in pairs]


def merge_env(existing: list[JsonObject] | None, ours: list[JsonObject]) -> list[JsonObject]:
    """Our variables first, then the user's; a user's variable of the same name wins."""
    theirs = existing or []
    names = {item.get("name") for item in theirs}
    return [item for item in ours if item["name"] not in names] + copy.deepcopy(theirs)
