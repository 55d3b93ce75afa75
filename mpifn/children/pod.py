"""What every pod the operator makes shares: Pod Security "restricted" settings and mounts."""

import copy

from mpifn import api, naming
from mpifn.model import JsonObject, MPIJob

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
SSH_AUTH_VOLUME = "mpifn-ssh-auth"
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


def ssh_volumes(job: MPIJob) -> list[JsonObject]:
    secret = naming.ssh_secret_name(job.name)
    volumes = [{"name": SSH_VOLUME, "secret": {"secretName": secret, "defaultMode": 0o440}}]
    if job.ssh_auth_mount_path:
        # Images made for the Kubeflow operator look for OpenSSH's own file names there.
        items = [
            {"key": "ssh-privatekey", "path": "id_ed25519"},
            {"key": "ssh-publickey", "path": "id_ed25519.pub"},
            {"key": "ssh-publickey", "path": "authorized_keys"},
        ]
        volumes.append(
            {"name": SSH_AUTH_VOLUME, "secret": {"secretName": secret, "defaultMode": 0o440, "items": items}}
        )
    return volumes


def ssh_mounts(job: MPIJob) -> list[JsonObject]:
    mounts = [{"name": SSH_VOLUME, "mountPath": api.SSH_DIR, "readOnly": True}]
    if job.ssh_auth_mount_path:
        mounts.append({"name": SSH_AUTH_VOLUME, "mountPath": job.ssh_auth_mount_path, "readOnly": True})
    return mounts


def env(pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> list[JsonObject]:
    return [{"name": name, "value": value} for name, value in pairs]


def merge_env(existing: list[JsonObject] | None, ours: list[JsonObject]) -> list[JsonObject]:
    """Our variables first, then the user's; a user's variable of the same name wins."""
    theirs = existing or []
    names = {item.get("name") for item in theirs}
    return [item for item in ours if item["name"] not in names] + copy.deepcopy(theirs)
