"""The MPIJobExplanation child: asks the explain controller to read the job's pods
(mpifn.explain says when)."""

from typing import Any

from mpifn import api, naming
from mpifn.model import MPIJob
from mpifn.settings import Settings

JsonObject = dict[str, Any]


def job_explanation(job: MPIJob, settings: Settings) -> JsonObject:
    """Its launcher pods always; its worker pods up to MPIFN_STATUS_MAX_WORKER_PODS workers
    (each pod read rides in every explain request)."""
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.EXPLANATION_KIND,
        "metadata": {"name": naming.explanation_name(job.name), "labels": naming.job_labels(job.name)},
        "spec": {"job": job.name, "workerPods": job.replicas <= settings.status_max_worker_pods},
    }
