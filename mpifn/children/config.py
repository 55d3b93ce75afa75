"""The job's ConfigMap: proposed hostfile, ssh client settings, helper scripts."""

from functools import lru_cache

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


def _files(job: MPIJob, settings: Settings) -> tuple[str, ...]:
    return _rendered_files(*_inputs(job, settings))


def _inputs(job: MPIJob, settings: Settings) -> tuple[str | int, ...]:
    """All the files are made of."""
    return (
        job.name,
        job.namespace,
        job.replicas,
        job.slots,
        job.ssh_port,
        job.mpi_implementation,
        settings.probe_url,
        settings.worker_host_template,
        probe_request_json(job, MPICH.name),
    )


# A resync asks for the same files again, and rendering them grows with the workers (0.65 ms
# at 4096, BENCHMARKS.md): kept for the last jobs seen, keyed by exactly what they are made of.
# Only strings are kept, so no caller can change what the next one gets.
@lru_cache(maxsize=256)
def _rendered_files(
    name: str,
    namespace: str,
    replicas: int,
    slots: int,
    ssh_port: int,
    mpi_implementation: str,
    probe_url: str,
    worker_host_template: str,
    discover_request: str,
) -> tuple[str, ...]:
    identity = {"name": name, "namespace": namespace}
    return (
        flavour(mpi_implementation).hostfile(
            naming.worker_hosts(worker_host_template, name, namespace, replicas), slots
        ),
        render("ssh_config.j2", ssh_port=ssh_port, ssh_dir=api.SSH_DIR, **identity),
        render("ssh.j2", ssh_config=api.SSH_CONFIG),
        # Horovod elastic reads host:slots lines, the MPICH format.
        render(
            "discover_hosts.sh.j2",
            probe_url=probe_url,
            probe_request=discover_request,
            timeout_seconds=PROBE_TIMEOUT_SECONDS,
            **identity,
        ),
    )
