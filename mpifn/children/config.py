"""The job's ConfigMap: proposed hostfile, ssh client settings, helper scripts."""

from mpifn import api, naming
from mpifn.children.launcher import PROBE_TIMEOUT_SECONDS, probe_request_json
from mpifn.children.pod import JsonObject
from mpifn.flavours import MPICH, flavour
from mpifn.model import MPIJob
from mpifn.settings import Settings
from mpifn.templating import render


def job_config(job: MPIJob, settings: Settings) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": naming.config_name(job.name), "labels": naming.job_labels(job.name)},
        "data": dict(zip(_FILES, _files(job, settings), strict=True)),
    }


_FILES = ("hostfile", "ssh_config", "ssh", "discover_hosts.sh")
_CACHE_SIZE = 256
_cache: dict[tuple[object, ...], tuple[str, ...]] = {}


def _files(job: MPIJob, settings: Settings) -> tuple[str, ...]:
    """The files are pure in the fields of the key, and a resync asks for the same ones
    again; only strings are kept, so no caller can change what the next one gets."""
    key = (
        job.name,
        job.namespace,
        job.replicas,
        job.min_replicas,
        job.slots,
        job.ssh_port,
        job.mpi_implementation,
        settings.probe_url,
    )
    found = _cache.get(key)
    if found is None:
        found = _render_files(job, settings)
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = found
    return found


def _render_files(job: MPIJob, settings: Settings) -> tuple[str, ...]:
    """Reads only the job and settings fields in _files' key."""
    hosts = naming.worker_hosts(job.name, job.namespace, job.replicas)
    identity = {"name": job.name, "namespace": job.namespace}
    return (
        flavour(job.mpi_implementation).hostfile(hosts, job.slots),
        render("ssh_config.j2", ssh_port=job.ssh_port, ssh_dir=api.SSH_DIR, **identity),
        render("ssh.j2", ssh_config=api.SSH_CONFIG),
        # Horovod elastic reads host:slots lines, the MPICH format.
        render(
            "discover_hosts.sh.j2",
            probe_url=settings.probe_url,
            probe_request=probe_request_json(job, MPICH.name),
            timeout_seconds=PROBE_TIMEOUT_SECONDS,
            **identity,
        ),
    )
