"""The job's ssh key Secret: generated on the first sync, then always the observed one."""

import base64
from collections.abc import Callable

from mpifn import naming
from mpifn.children.pod import JsonObject
from mpifn.sshkeys import SshKeyPair

SSH_AUTH_SECRET_TYPE = "kubernetes.io/ssh-auth"


def ssh_secret(job_name: str, observed: JsonObject | None, new_key_pair: Callable[[], SshKeyPair]) -> JsonObject:
    """The observed Secret's data, or a new key pair (asked for only then)."""
    metadata = {"name": naming.ssh_secret_name(job_name), "labels": naming.job_labels(job_name)}
    if observed is not None and observed.get("data"):
        data = {key: observed["data"][key] for key in sorted(observed["data"])}
    else:
        pair = new_key_pair()
        data = {"ssh-privatekey": _b64(pair.private_key), "ssh-publickey": _b64(pair.public_key)}
    return {"apiVersion": "v1", "kind": "Secret", "type": SSH_AUTH_SECRET_TYPE, "metadata": metadata, "data": data}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
