"""The MPIJob v1 schema: one definition for the CRD and for the functions' own checks.

Every pod template field is POD_TEMPLATE here, which the functions' own checks read as "an
object" (mpifn.spec checks the parts the builders read); in the CRDs (crd_spec) and in the
check for unknown fields it is the full PodTemplateSpec schema (mpifn.podtemplate)."""

from functools import lru_cache
from typing import Any

from mpifn import api, podtemplate

MPI_IMPLEMENTATIONS = ("OpenMPI", "MPICH", "IntelMPI")
_SSH_PORT = f"Port of the workers' sshd (default {api.DEFAULT_SSH_PORT})."
CLEAN_POD_POLICIES = ("None", "Running", "All")
POD_TEMPLATE_DESCRIPTION = "A pod template (metadata and spec), as in a Deployment."

POD_TEMPLATE: dict[str, Any] = {"type": "object", "description": POD_TEMPLATE_DESCRIPTION}


def _integer(minimum: int, description: str, maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum, "description": description}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def _boolean(description: str) -> dict[str, Any]:
    return {"type": "boolean", "description": description}


def _role_override(role: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"Overrides for the {role} only.",
        "properties": {"template": POD_TEMPLATE},
    }


RUN_POLICY: dict[str, Any] = {
    "type": "object",
    "description": "What happens around the run: cleanup, deadlines, retries, suspension.",
    "properties": {
        "cleanPodPolicy": {
            "type": "string",
            "enum": list(CLEAN_POD_POLICIES),
            "description": "Which worker pods to remove when the job finishes (default Running).",
        },
        "ttlSecondsAfterFinished": _integer(0, "Remove the children this long after the job finished."),
        "activeDeadlineSeconds": _integer(1, "Fail the job with DeadlineExceeded after this long."),
        "backoffLimit": _integer(0, "How many times the launcher is retried (default 0)."),
        "suspend": _boolean("Stop all pods and keep the job; false resumes it."),
    },
}

SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["replicas"],
    "properties": {
        "replicas": _integer(1, "Number of worker pods."),
        "minReplicas": _integer(
            1, "Workers that must answer SSH before mpirun starts (default replicas, or 1 with daemons)."
        ),
        "daemons": _boolean("One worker per node (required pod anti-affinity on kubernetes.io/hostname)."),
        "daemon": _boolean("The seed project's spelling of daemons."),
        "slotsPerWorker": _integer(1, "MPI slots on each worker (default 1)."),
        "slots": _integer(1, "The seed project's spelling of slotsPerWorker."),
        "image": {"type": "string", "description": "Image of the launcher and worker containers."},
        "mpiImplementation": {
            "type": "string",
            "enum": list(MPI_IMPLEMENTATIONS),
            "default": "OpenMPI",
            "description": "Hostfile format and launcher environment (default OpenMPI).",
        },
        "sshPort": {**_integer(1, _SSH_PORT, maximum=65535), "default": api.DEFAULT_SSH_PORT},
        "template": POD_TEMPLATE,
        "launcher": _role_override("launcher"),
        "worker": _role_override("workers"),
        "runPolicy": RUN_POLICY,
    },
}

_CONDITION: dict[str, Any] = {
    "type": "object",
    "required": ["type", "status"],
    "properties": {name: {"type": "string"} for name in ("type", "status", "reason", "message", "lastTransitionTime")},
}

_REPLICA_STATUS: dict[str, Any] = {
    "type": "object",
    "properties": {name: {"type": "integer"} for name in ("active", "succeeded", "failed")},
}

STATUS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "phase": {"type": "string"},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "observedGeneration": {"type": "integer"},
        "workers": {
            "type": "object",
            "properties": {n: {"type": "integer"} for n in ("desired", "ready", "current")},
        },
        "launcher": {
            "type": "object",
            "properties": {
                "state": {"type": "string"},
                "reason": {"type": "string"},
                "active": {"type": "integer"},
                "failed": {"type": "integer"},
                "succeeded": {"type": "integer"},
            },
        },
        "replicaStatuses": {
            "type": "object",
            "description": "Kubeflow's pod counts per role (Kueue reads active): pods that exist and have not ended.",
            "properties": {role: _REPLICA_STATUS for role in ("Launcher", "Worker")},
        },
        "startTime": {"type": "string"},
        "completionTime": {"type": "string"},
        "progressTime": {
            "type": "string",
            "description": "When the workers or the launcher last changed; its pods are read once it is long past.",
        },
        "conditions": {"type": "array", "items": _CONDITION},
        "pods": {
            "type": "object",
            "description": "What the job's own pods say (read by the explain controller).",
            "properties": {
                "read": {"type": "integer", "description": "Pods read: the launcher and the workers asked for."},
                "problems": {
                    "type": "object",
                    "description": "Pods with a problem, counted per reason.",
                    "additionalProperties": {"type": "integer"},
                },
                "details": {
                    "type": "array",
                    "description": "One line per pod with a problem (a bounded number): pod, cause, fix.",
                    "items": {"type": "string"},
                },
            },
        },
    },
}

EXPLANATION_SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["job"],
    "properties": {
        "job": {"type": "string", "description": "The MPIJob (same namespace) whose pods to read."},
        "workerPods": _boolean("Read the worker pods too, not only the launcher's."),
    },
}
EXPLANATION_STATUS: dict[str, Any] = {
    "type": "object",
    "description": "Written by the explain controller: the job's pods that tell something.",
    "properties": {
        "read": {"type": "integer", "description": "Pods read."},
        "pods": {
            "type": "array",
            "description": "The newest launcher pod and the worker pods with a problem, cut to what is read.",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    },
}

PROBE_REQUEST: dict[str, Any] = {
    "type": "object",
    "description": "Which job to probe; the probe derives every host it contacts from it.",
    "required": ["namespace", "name", "replicas"],
    "additionalProperties": False,
    "properties": {
        "namespace": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
        "name": {"type": "string", "pattern": "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"},
        "replicas": _integer(1, "Workers of the job."),
        "minReplicas": _integer(1, "Workers needed (default replicas)."),
        "slots": _integer(1, "Slots per worker (default 1)."),
        "sshPort": _integer(1, _SSH_PORT, maximum=65535),
        "mpiImplementation": {"type": "string", "enum": list(MPI_IMPLEMENTATIONS)},
        "timeoutSeconds": {"type": "number", "exclusiveMinimum": 0},
        # The launcher's signature from sync (required when the probe has a key).
        "uid": {"type": "string", "pattern": "^[-a-z0-9]{0,64}$"},
        "expires": _integer(0, "Unix time after which the signature is refused."),
        "signature": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    },
}


# Kubeflow's restartPolicy of a role's pods: the one value that says what mpifn does, and why
# (mpifn.kubeflow refuses any other). A worker's sshd stops only by failing: OnFailure is Always.
KUBEFLOW_RESTART_POLICIES = {
    "Launcher": ("Never", "the launcher's pod never restarts in place; runPolicy.backoffLimit retries it in a new pod"),
    "Worker": ("OnFailure", "workers are StatefulSet pods, restarted whenever they stop"),
}


def _kubeflow_replica_spec(role: str, minimum: int, maximum: int | None = None) -> dict[str, Any]:
    runs, why = KUBEFLOW_RESTART_POLICIES[role]
    return {
        "type": "object",
        "required": ["template"],
        "properties": {
            "replicas": _integer(minimum, "Pods of this role.", maximum=maximum),
            "restartPolicy": {"type": "string", "description": f"{runs}: {why}. mpifn implements no other value."},
            "template": POD_TEMPLATE,
        },
    }


KUBEFLOW_MPI_IMPLEMENTATIONS = {"OpenMPI": "OpenMPI", "Intel": "IntelMPI", "MPICH": "MPICH"}

# Kubeflow's fields that mpifn does not implement are declared, so that the API server keeps
# them for sync to refuse with the reason (mpifn.kubeflow) where pruning would hide them.
_NOT_IMPLEMENTED = "Kubeflow's; not implemented by mpifn (sync refuses it, saying why)."
KUBEFLOW_RUN_POLICY: dict[str, Any] = {
    **RUN_POLICY,
    "properties": {
        **RUN_POLICY["properties"],
        "schedulingPolicy": {
            "type": "object",
            "description": _NOT_IMPLEMENTED,
            "x-kubernetes-preserve-unknown-fields": True,
        },
        "managedBy": {
            "type": "string",
            "description": (
                "The controller that runs this job. Absent or kubeflow.org/mpi-operator: mpifn. Any other "
                "value (kueue.x-k8s.io/multikueue): that controller; mpifn creates no child and writes no "
                "status for it. Set it when creating the job; changing it later removes mpifn's children."
            ),
        },
    },
}

KUBEFLOW_SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["mpiReplicaSpecs"],
    "properties": {
        "slotsPerWorker": _integer(1, "MPI slots per worker (default 1)."),
        "runLauncherAsWorker": _boolean(_NOT_IMPLEMENTED + " false is accepted."),
        "runPolicy": KUBEFLOW_RUN_POLICY,
        "sshAuthMountPath": {"type": "string", "pattern": "^/"},
        "mpiImplementation": {"type": "string", "enum": list(KUBEFLOW_MPI_IMPLEMENTATIONS)},
        "launcherCreationPolicy": {"type": "string", "enum": ["AtStartup", "WaitForWorkersReady"]},
        "mpiReplicaSpecs": {
            "type": "object",
            "required": ["Launcher", "Worker"],
            "properties": {
                "Launcher": _kubeflow_replica_spec("Launcher", 1, maximum=1),
                "Worker": _kubeflow_replica_spec("Worker", 1),
            },
        },
    },
}


def _with_pod_templates(node: Any, template: dict[str, Any]) -> Any:
    """A copy of `node` with `template` for every POD_TEMPLATE in it."""
    if node is POD_TEMPLATE:
        return template
    if isinstance(node, dict):
        return {key: _with_pod_templates(value, template) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_pod_templates(value, template) for value in node]
    return node


@lru_cache(maxsize=1)
def _crd_pod_template() -> dict[str, Any]:
    return {"description": POD_TEMPLATE_DESCRIPTION, **podtemplate.pod_template_schema()}


@lru_cache(maxsize=1)
def crd_spec() -> dict[str, Any]:
    """SPEC as the CRDs of mpifn.dev and of the seed's group carry it (shared: do not modify)."""
    return dict(_with_pod_templates(SPEC, _crd_pod_template()))


@lru_cache(maxsize=1)
def kubeflow_crd_spec() -> dict[str, Any]:
    """KUBEFLOW_SPEC as the kubeflow Component's CRD carries it (shared: do not modify)."""
    return dict(_with_pod_templates(KUBEFLOW_SPEC, _crd_pod_template()))
