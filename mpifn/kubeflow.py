"""The Kubeflow `kubeflow.org/v2beta1` MPIJob, mapped onto the one internal model."""

from functools import lru_cache
from typing import Any

from mpifn import api, schema
from mpifn.errors import InvalidSpec
from mpifn.model import JsonObject, MPIJob, RunPolicy
from mpifn.validation import has_containers, problems, show, unknown_fields, validator

DEFAULT_SSH_AUTH_MOUNT_PATH = "/root/.ssh"
# runPolicy.managedBy of a job Kubeflow's own operator runs (its default).
KUBEFLOW_OPERATOR = "kubeflow.org/mpi-operator"


@lru_cache(maxsize=1)
def _validator() -> Any:
    return validator(schema.KUBEFLOW_SPEC)


def kubeflow_job(name: str, namespace: str, generation: int, spec: JsonObject) -> MPIJob:
    found = problems(_validator(), spec, "spec")
    found += not_implemented(spec) + without_containers(spec) if not found else []
    found += unknown_fields(schema.kubeflow_crd_spec(), spec, "spec")
    if found:
        raise InvalidSpec(found)
    replicas = spec["mpiReplicaSpecs"]
    workers = replicas["Worker"].get("replicas", 1)
    return MPIJob(
        name=name,
        namespace=namespace,
        replicas=workers,
        min_replicas=workers,
        slots=spec.get("slotsPerWorker", 1),
        daemons=False,
        ssh_port=api.DEFAULT_SSH_PORT,
        mpi_implementation=schema.KUBEFLOW_MPI_IMPLEMENTATIONS[spec.get("mpiImplementation", "OpenMPI")],
        image=None,
        launcher_template=replicas["Launcher"]["template"],
        worker_template=replicas["Worker"]["template"],
        run_policy=RunPolicy.parse(spec),
        generation=generation,
        worker_runs_own_sshd=True,
        ssh_auth_mount_path=spec.get("sshAuthMountPath", DEFAULT_SSH_AUTH_MOUNT_PATH),
        wait_for_workers=spec.get("launcherCreationPolicy") == "WaitForWorkersReady",
        kubeflow_pod_labels=True,
    )


def external_manager(spec: Any) -> str | None:
    """The controller a Kubeflow job's `spec.runPolicy.managedBy` hands it to (for example
    kueue.x-k8s.io/multikueue), or None when it is ours to run: absent, kubeflow.org/mpi-operator,
    or not a string (then the spec check names it)."""
    policy = spec.get("runPolicy") if isinstance(spec, dict) else None
    manager = policy.get("managedBy") if isinstance(policy, dict) else None
    return manager if isinstance(manager, str) and manager != KUBEFLOW_OPERATOR else None


def without_containers(spec: JsonObject) -> list[str]:
    """Each role whose pod template has no container (the CRD allows an empty list)."""
    return [
        f"spec.mpiReplicaSpecs.{role}.template.spec.containers: must be a non-empty list of containers"
        for role in ("Launcher", "Worker")
        if not has_containers(spec["mpiReplicaSpecs"][role].get("template"))
    ]


def not_implemented(spec: JsonObject) -> list[str]:
    """The fields of Kubeflow's v2beta1 MPIJob that mpifn does not implement, when they ask for
    something other than what mpifn does: refused, never silently ignored."""
    found = []
    if spec.get("runLauncherAsWorker"):
        found.append(
            "spec.runLauncherAsWorker: not implemented by mpifn (Kubeflow PR 612, the launcher "
            "also running MPI ranks); remove it or set false"
        )
    policy = spec.get("runPolicy") or {}
    if policy.get("schedulingPolicy"):
        found.append(
            "spec.runPolicy.schedulingPolicy: not implemented by mpifn (gang scheduling is the "
            "gang-volcano or gang-scheduler-plugins Component, minMember = workers + 1); remove it"
        )
    for role, (runs, why) in schema.KUBEFLOW_RESTART_POLICIES.items():
        asked = spec["mpiReplicaSpecs"][role].get("restartPolicy", runs)
        if asked != runs:
            found.append(
                f"spec.mpiReplicaSpecs.{role}.restartPolicy: {show(asked)} not implemented by mpifn "
                f"({why}); remove it or set {runs}"
            )
    return found
