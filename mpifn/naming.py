"""Child names, labels and selectors, and the Kubernetes name rules they obey."""

import re
from typing import Final

from mpifn import api

DNS1123_LABEL_MAX: Final = 63
DNS1123_SUBDOMAIN_MAX: Final = 253
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# The StatefulSet controller labels each pod with
# controller-revision-hash=<statefulset name>-<hash of up to 10 characters>;
# that label value must fit in 63 characters, which bounds the job name.
_REVISION_HASH_SUFFIX: Final = 11
WORKER_SUFFIX: Final = "-worker"
MAX_JOB_NAME: Final = DNS1123_LABEL_MAX - len(WORKER_SUFFIX) - _REVISION_HASH_SUFFIX


def is_dns1035_label(value: str) -> bool:
    return len(value) <= DNS1123_LABEL_MAX and bool(_DNS1035_LABEL.match(value))


def is_dns1123_label(value: str) -> bool:
    return len(value) <= DNS1123_LABEL_MAX and bool(_DNS1123_LABEL.match(value))


def is_dns1123_subdomain(value: str) -> bool:
    return len(value) <= DNS1123_SUBDOMAIN_MAX and bool(_DNS1123_SUBDOMAIN.match(value))


def job_name_problem(name: str) -> str | None:
    """Why `name` cannot name an MPIJob, or None when it can."""
    if len(name) > MAX_JOB_NAME:
        return (
            f"must be at most {MAX_JOB_NAME} characters, got {len(name)}: the worker "
            f"StatefulSet '{name}{WORKER_SUFFIX}' and its pods' controller-revision-hash "
            f"label must stay within the {DNS1123_LABEL_MAX}-character label limit"
        )
    if not _DNS1035_LABEL.match(name):
        return (
            "must be a DNS-1035 label (lower-case letters, digits and '-', starting with a "
            f"letter), because it names the worker Service; got {name!r}"
        )
    return None


def worker_name(job: str) -> str:
    """The worker StatefulSet and its headless Service share this name."""
    return f"{job}{WORKER_SUFFIX}"


def launcher_name(job: str) -> str:
    return f"{job}-launcher"


def ssh_secret_name(job: str) -> str:
    return f"{job}-ssh"


def config_name(job: str) -> str:
    return f"{job}-config"


def explanation_name(job: str) -> str:
    return f"{job}-pods"


def worker_pod_name(job: str, index: int) -> str:
    return f"{worker_name(job)}-{index}"


# The stable DNS name the headless Service gives each worker pod, relative to the cluster
# domain so that it resolves through every pod's DNS search path. The default of
# MPIFN_WORKER_HOST_TEMPLATE, which the probe and the job's proposed hostfile both use.
WORKER_HOST_TEMPLATE: Final = f"{{job}}{WORKER_SUFFIX}-{{index}}.{{job}}{WORKER_SUFFIX}.{{namespace}}.svc"


def worker_hosts(template: str, job: str, namespace: str, count: int) -> list[str]:
    """The host name of workers 0..count-1 by `template`. Besides {job}, {namespace} and {index}
    it may use {index_hi} and {index_lo} (index // 256 and index % 256), so that thousands of
    workers can map to addresses such as 127.20.{index_hi}.{index_lo} on loopback."""
    return [
        template.format(job=job, namespace=namespace, index=index, index_hi=index // 256, index_lo=index % 256)
        for index in range(count)
    ]


def job_labels(job: str) -> dict[str, str]:
    return {api.LABEL_JOB: job}


def role_labels(job: str, role: str) -> dict[str, str]:
    return {api.LABEL_JOB: job, api.LABEL_ROLE: role}


def pod_labels(job: str, role: str, kubeflow: bool) -> dict[str, str]:
    """The labels of a role's pods: role_labels (the selectors' own), plus Kubeflow's for a
    kubeflow.org job. Only the pod templates carry Kubeflow's: no selector may change."""
    labels = role_labels(job, role)
    if kubeflow:
        labels[api.KUBEFLOW_LABEL_JOB] = job
        labels[api.KUBEFLOW_LABEL_OPERATOR] = api.KUBEFLOW_OPERATOR_NAME
        labels[api.KUBEFLOW_LABEL_ROLE] = role
    return labels
