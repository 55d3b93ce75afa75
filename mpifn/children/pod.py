"""What every pod the operator makes shares: Pod Security "restricted" settings and mounts."""

from typing import Any

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


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars): what copy.deepcopy gives for it,
    several times faster; every sync copies the user's pod templates."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


SSH_VOLUME = "mpifn-ssh"
SSH_AUTH_VOLUME = "mpifn-ssh-auth"
CONFIG_VOLUME = "mpifn-config"
MPI_VOLUME = "mpifn-mpi"


def with_defaults(values: JsonObject | None, defaults: JsonObject) -> JsonObject:
    """`values` with every missing key of `defaults` filled in; the user's own values win.
    Objects merge one level down, so a user's `capabilities: {add: [NET_BIND_SERVICE]}`
    keeps our `drop: [ALL]`."""
    merged = json_copy(defaults)
    for key, value in (values or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **json_copy(value)}
        else:
            merged[key] = json_copy(value)
    return merged


def hardened_container(container: JsonObject) -> JsonObject:
    """A shallow copy of `container`: every field we change is replaced, never edited in place."""
    result = dict(container)
    result["securityContext"] = with_defaults(container.get("securityContext"), CONTAINER_SECURITY)
    return result


def pod_template(template: JsonObject, labels: dict[str, str]) -> tuple[JsonObject, JsonObject]:
    """A copy of the user's pod template with our labels and the restricted pod settings.

    Returns (metadata, spec) for the caller to finish. Both are shallow copies: the
    callers replace the fields they change (containers, volumes, labels, ...) and never
    edit a nested object of the user's, so deep copies of the whole template are not needed.
    """
    metadata = dict(template.get("metadata") or {})
    metadata.pop("name", None)
    metadata.pop("namespace", None)
    metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
    spec = dict(template.get("spec") or {})
    spec["securityContext"] = with_defaults(spec.get("securityContext"), POD_SECURITY)
    return metadata, spec


def mpi_volumes(job: MPIJob) -> list[JsonObject]:
    """The job's key pair and ConfigMap, which launcher and workers both mount (OpenMPI's
    tree spawn makes workers ssh to other workers with the same client settings)."""
    secret = naming.ssh_secret_name(job.name)
    volumes = [
        {"name": SSH_VOLUME, "secret": {"secretName": secret, "defaultMode": 0o440}},
        {"name": CONFIG_VOLUME, "configMap": {"name": naming.config_name(job.name), "defaultMode": 0o555}},
    ]
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


def mpi_mounts(job: MPIJob) -> list[JsonObject]:
    mounts = [
        {"name": SSH_VOLUME, "mountPath": api.SSH_DIR, "readOnly": True},
        {"name": CONFIG_VOLUME, "mountPath": api.CONFIG_DIR, "readOnly": True},
    ]
    if job.ssh_auth_mount_path:
        mounts.append({"name": SSH_AUTH_VOLUME, "mountPath": job.ssh_auth_mount_path, "readOnly": True})
    return mounts


def env(pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> list[JsonObject]:
    return [{"name": name, "value": value} for name, value in pairs]


def merge_env(existing: list[JsonObject] | None, ours: list[JsonObject]) -> list[JsonObject]:
    """Our variables first, then the user's; a user's variable of the same name wins."""
    theirs = existing or []
    names = {item.get("name") for item in theirs}
    return [item for item in ours if item["name"] not in names] + json_copy(theirs)
