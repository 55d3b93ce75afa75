"""The job's ConfigMap: proposed hostfile, ssh client settings, helper scripts."""

from mpifn import api, naming
from mpifn.children.launcher import PROBE_TIMEOUT_SECONDS, probe_request_json
from mpifn.children.pod import JsonObject
from mpifn.flavours import MPICH, flavour
from mpifn.model import MPIJob
from mpifn.settings import Settings
from mpifn.templating import render


def job_config(job: MPIJob, settings: Settings) -> JsonObject:
    hosts = naming.worker_hosts(job.name, job.namespace, job.replicas)
    identity = {"name": job.name, "namespace": job.namespace}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": naming.config_name(job.name), "labels": naming.job_labels(job.name)},
        "data": {
            "hostfile": flavour(job.mpi_implementation).hostfile(hosts, job.slots),
            "ssh_config": render("ssh_config.j2", ssh_port=job.ssh_port, ssh_dir=api.SSH_DIR, **identity),
            "ssh": render("ssh.j2", ssh_config=api.SSH_CONFIG),
            # Horovod elastic reads host:slots lines, the MPICH format.
            "discover_hosts.sh": render(
                "discover_hosts.sh.j2",
                probe_url=settings.probe_url,
                probe_request=probe_request_json(job, MPICH.name),
                timeout_seconds=PROBE_TIMEOUT_SECONDS,
                **identity,
            ),
        },
    }
