"""An MPIJob as the real mpifn.hooks.sync renders it, for the MPI lab: the children's
environment, commands, SSH keys and config files, with /etc/mpi moved under a per-test
folder."""

from __future__ import annotations

import base64
import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path

from mpifn.settings import settings_from
from testkit import calls


def rewrite_etc_mpi(value, root: Path):
    """Replace the /etc/mpi prefix by <root>/etc/mpi in strings, lists, dicts."""
    if isinstance(value, str):
        return value.replace("/etc/mpi", f"{root}/etc/mpi")
    if isinstance(value, list):
        return [rewrite_etc_mpi(v, root) for v in value]
    if isinstance(value, dict):
        return {k: rewrite_etc_mpi(v, root) for k, v in value.items()}
    return value


@dataclass
class RenderedJob:
    """What sync asked for, with /etc/mpi moved under a per-test folder."""

    name: str
    namespace: str
    replicas: int
    slots: int
    min_replicas: int
    ssh_port: int
    implementation: str
    response: dict
    secret: dict
    configmap: dict
    init_env: dict[str, str]
    launcher_env: dict[str, str]
    worker_env: dict[str, str]
    worker_command: list[str]
    launcher_command: list[str]

    def worker_host(self, index: int) -> str:
        return f"{self.name}-worker-{index}.{self.name}-worker.{self.namespace}.svc"

    def worker_hostname(self, index: int) -> str:
        return f"{self.name}-worker-{index}"


def _children_by_kind(response: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for child in response.get("children", []):
        out.setdefault(child["kind"], []).append(child)
    return out


def _env_dict(container: dict) -> dict[str, str]:
    env = {}
    for item in container.get("env", []) or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
    return env


def render_job(
    *,
    name: str,
    namespace: str = "e2e",
    replicas: int,
    slots: int = 1,
    min_replicas: int | None = None,
    daemons: bool = False,
    ssh_port: int = 2222,
    implementation: str = "OpenMPI",
    command: list[str] | None = None,
    init_deadline_seconds: int | None = None,
) -> tuple[RenderedJob, dict]:
    """Call the real mpifn.hooks.sync for a fresh MPIJob, with the settings of this process's
    environment (the probe key the test set there) and MPIFN_INIT_DEADLINE_SECONDS."""
    spec: dict = {
        "replicas": replicas,
        "slotsPerWorker": slots,
        "sshPort": ssh_port,
        "mpiImplementation": implementation,
        "daemons": daemons,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "mpi",
                        "image": "mpifn/mpibase:test",
                        "command": command or ["mpirun", "./hello"],
                    }
                ],
            },
        },
    }
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    parent = {
        "apiVersion": "mpifn.dev/v1",
        "kind": "MPIJob",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "generation": 1,
            "creationTimestamp": "2026-11-28T00:00:00Z",
        },
        "spec": spec,
    }
    request = {"controller": {}, "parent": parent, "children": {}, "finalizing": False}
    variables = {}
    if init_deadline_seconds is not None:
        variables["MPIFN_INIT_DEADLINE_SECONDS"] = str(init_deadline_seconds)
    response = calls.sync(copy.deepcopy(request), settings=settings_from({**os.environ, **variables}))
    kinds = _children_by_kind(response)
    problems = []
    for kind in ("Secret", "ConfigMap", "Job", "StatefulSet", "Service"):
        if kind not in kinds:
            problems.append(kind)
    assert not problems, (
        f"sync answered no {problems} for a valid MPIJob; status: {json.dumps(response.get('status'), indent=1)[:2000]}"
    )
    secret = next(c for c in kinds["Secret"] if c["metadata"]["name"] == f"{name}-ssh")
    configmap = next(c for c in kinds["ConfigMap"] if c["metadata"]["name"] == f"{name}-config")
    launcher = next(c for c in kinds["Job"] if c["metadata"]["name"] == f"{name}-launcher")
    workers = next(c for c in kinds["StatefulSet"] if c["metadata"]["name"] == f"{name}-worker")
    pod = launcher["spec"]["template"]["spec"]
    inits = pod.get("initContainers") or []
    assert inits, "the launcher Job has no init container"
    init = next(
        (c for c in inits if "mpifn-launcher-init" in " ".join((c.get("command") or []) + (c.get("args") or []))),
        inits[0],
    )
    main = pod["containers"][0]
    worker = workers["spec"]["template"]["spec"]["containers"][0]
    job = RenderedJob(
        name=name,
        namespace=namespace,
        replicas=replicas,
        slots=slots,
        min_replicas=min_replicas if min_replicas is not None else (1 if daemons else replicas),
        ssh_port=ssh_port,
        implementation=implementation,
        response=response,
        secret=secret,
        configmap=configmap,
        init_env=_env_dict(init),
        launcher_env=_env_dict(main),
        worker_env=_env_dict(worker),
        worker_command=(worker.get("command") or []) + (worker.get("args") or []),
        launcher_command=(main.get("command") or []) + (main.get("args") or []),
    )
    return job, request


def secret_files(secret: dict) -> dict[str, str]:
    files = {}
    for key, value in (secret.get("data") or {}).items():
        files[key] = base64.b64decode(value).decode()
    for key, value in (secret.get("stringData") or {}).items():
        files[key] = value
    return files


def write_job_files(job: RenderedJob, root: Path, gid: int) -> Path:
    """/etc/mpi of the launcher under root (<root>/etc/mpi, returned), as its volumes hold it:
    the Secret's SSH keys (root-owned, group-readable by gid: fsGroup) and the ConfigMap's
    files with /etc/mpi rewritten."""
    etc_mpi = root / "etc" / "mpi"
    ssh_dir = etc_mpi / "ssh"
    config_dir = etc_mpi / "config"
    for d in (root, root / "etc"):
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o755)
    # /etc/mpi is the launcher's emptyDir: writable by the user (fsGroup).
    etc_mpi.mkdir()
    os.chown(etc_mpi, 0, gid)
    os.chmod(etc_mpi, 0o775)
    ssh_dir.mkdir(mode=0o755)
    config_dir.mkdir(mode=0o755)
    files = secret_files(job.secret)
    assert {"ssh-privatekey", "ssh-publickey"} <= set(files), (
        f"Secret {job.secret['metadata']['name']} lacks ssh-privatekey/ssh-publickey: {sorted(files)}"
    )
    # As a Secret volume with fsGroup: owned by root, group-readable.
    for key, text in files.items():
        path = ssh_dir / key
        path.write_text(text)
        os.chown(path, 0, gid)
        os.chmod(path, 0o440)
    for key, text in (job.configmap.get("data") or {}).items():
        path = config_dir / key
        path.write_text(rewrite_etc_mpi(text, root))
        os.chmod(path, 0o755 if key in ("ssh", "discover_hosts.sh") else 0o644)
    return etc_mpi
