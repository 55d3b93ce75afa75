"""The Kubeflow `kubeflow.org/v2beta1` MPIJob, mapped onto the one internal model."""

from functools import lru_cache
from typing import Any

from mpifn import schema
from mpifn.errors import InvalidSpec
from mpifn.model import JsonObject, MPIJob, RunPolicy
from mpifn.validation import problems, unknown_fields, validator

DEFAULT_SSH_AUTH_MOUNT_PATH = "/root/.ssh"


@lru_cache(maxsize=1)
def _validator() -> Any:
    return validator(schema.KUBEFLOW_SPEC)


def kubeflow_job(name: str, namespace: str, generation: int, spec: JsonObject) -> MPIJob:
    found = problems(_validator(), spec, "spec") + unknown_fields(schema.kubeflow_crd_spec(), spec, "spec")
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
        ssh_port=2222,
        mpi_implementation=schema.KUBEFLOW_MPI_IMPLEMENTATIONS[spec.get("mpiImplementation", "OpenMPI")],
        image=None,
        launcher_template=replicas["Launcher"]["template"],
        worker_template=replicas["Worker"]["template"],
        run_policy=RunPolicy.parse(spec),
        generation=generation,
        worker_runs_own_sshd=True,
        ssh_auth_mount_path=spec.get("sshAuthMountPath", DEFAULT_SSH_AUTH_MOUNT_PATH),
        wait_for_workers=spec.get("launcherCreationPolicy") == "WaitForWorkersReady",
    )
