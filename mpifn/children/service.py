"""The headless Service that gives every worker a stable DNS name."""

from mpifn import api, naming
from mpifn.children.pod import JsonObject
from mpifn.model import MPIJob


def worker_service(job: MPIJob) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": naming.worker_name(job.name),
            "labels": naming.role_labels(job.name, api.ROLE_WORKER),
        },
        "spec": {
            "clusterIP": "None",
            # Workers must resolve before they are ready: the probe decides who answers.
            "publishNotReadyAddresses": True,
            "selector": naming.role_labels(job.name, api.ROLE_WORKER),
            "ports": [{"name": "ssh", "port": job.ssh_port, "targetPort": job.ssh_port}],
        },
    }
