"""The worker StatefulSet: sshd in every pod, started by the mpibase worker entrypoint."""

from mpifn import api, naming
from mpifn.children import pod
from mpifn.children.pod import JsonObject
from mpifn.children.podgroup import Gang, join
from mpifn.model import MPIJob
from mpifn.settings import Settings

WORKER_ENTRYPOINT = "/usr/local/bin/mpifn-worker"


def worker_statefulset(job: MPIJob, replicas: int, settings: Settings, gang: Gang | None = None) -> JsonObject:
    """`replicas` is the running count the lifecycle asks for (0 when suspended or done)."""
    labels = naming.role_labels(job.name, api.ROLE_WORKER)
    metadata, spec = pod.pod_template(
        job.worker_template, naming.pod_labels(job.name, api.ROLE_WORKER, job.kubeflow_pod_labels)
    )
    containers = [pod.hardened_container(c) for c in spec["containers"]]
    containers[0] = _sshd_container(containers[0], job, settings)
    spec["containers"] = containers
    spec["initContainers"] = [pod.hardened_container(c) for c in spec.get("initContainers", [])] or None
    spec["volumes"] = [*spec.get("volumes", []), *pod.mpi_volumes(job)]
    spec["restartPolicy"] = "Always"
    if job.daemons:
        spec["affinity"] = _one_worker_per_node(spec.get("affinity"), labels)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": naming.worker_name(job.name), "labels": labels},
        "spec": {
            "replicas": replicas,
            "serviceName": naming.worker_name(job.name),
            "podManagementPolicy": "Parallel",
            # Running ranks must never be restarted under a job by a template change.
            "updateStrategy": {"type": "OnDelete"},
            "selector": {"matchLabels": labels},
            "template": join({"metadata": metadata, "spec": _without_none(spec)}, job, gang),
        },
    }


def _sshd_container(container: JsonObject, job: MPIJob, settings: Settings) -> JsonObject:
    result = dict(container)  # already a copy (hardened_container); every change below replaces a field
    result["image"] = job.image or container.get("image") or settings.default_image
    if not job.worker_runs_own_sshd:
        result.pop("args", None)
        result["command"] = [WORKER_ENTRYPOINT]
        result["env"] = pod.merge_env(
            container.get("env"),
            pod.env([("MPIFN_SSH_PORT", str(job.ssh_port)), ("MPIFN_SSH_KEY_DIR", api.SSH_DIR)]),
        )
    ports = [p for p in container.get("ports", []) if p.get("containerPort") != job.ssh_port]
    result["ports"] = [{"name": "ssh", "containerPort": job.ssh_port, "protocol": "TCP"}, *ports]
    result["readinessProbe"] = {
        "tcpSocket": {"port": job.ssh_port},
        "periodSeconds": 2,
        "failureThreshold": 3,
    }
    result["volumeMounts"] = [*container.get("volumeMounts", []), *pod.mpi_mounts(job)]
    return result


def _one_worker_per_node(affinity: JsonObject | None, labels: dict[str, str]) -> JsonObject:
    result = pod.json_copy(affinity or {})
    anti = result.setdefault("podAntiAffinity", {})
    required = anti.setdefault("requiredDuringSchedulingIgnoredDuringExecution", [])
    required.append({"labelSelector": {"matchLabels": dict(labels)}, "topologyKey": "kubernetes.io/hostname"})
    return result


def _without_none(spec: JsonObject) -> JsonObject:
    return {key: value for key, value in spec.items() if value is not None}
