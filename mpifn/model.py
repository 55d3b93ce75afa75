"""The one internal model of an MPIJob, whichever API it came from."""

from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class RunPolicy:
    clean_pod_policy: str = "Running"
    ttl_seconds_after_finished: int | None = None
    active_deadline_seconds: int | None = None
    backoff_limit: int = 0
    suspend: bool = False

    @classmethod
    def parse(cls, spec: JsonObject) -> "RunPolicy":
        """From a validated spec's `runPolicy` (same field names in every API)."""
        policy = spec.get("runPolicy") or {}
        return cls(
            clean_pod_policy=policy.get("cleanPodPolicy", "Running"),
            ttl_seconds_after_finished=policy.get("ttlSecondsAfterFinished"),
            active_deadline_seconds=policy.get("activeDeadlineSeconds"),
            backoff_limit=policy.get("backoffLimit", 0),
            suspend=policy.get("suspend", False),
        )


@dataclass(frozen=True)
class MPIJob:
    name: str
    namespace: str
    replicas: int
    min_replicas: int
    slots: int
    daemons: bool
    ssh_port: int
    mpi_implementation: str
    image: str | None
    launcher_template: JsonObject
    worker_template: JsonObject
    run_policy: RunPolicy = field(default_factory=RunPolicy)
    generation: int = 0
    # Kubeflow drop-in: workers run the sshd their template starts, the key pair is also
    # mounted where the image expects it, and the launcher may wait for ready workers.
    worker_runs_own_sshd: bool = False
    ssh_auth_mount_path: str | None = None
    wait_for_workers: bool = False
    # Kubeflow's training.kubeflow.org/* labels on both pod templates (Kueue selects the pods by them).
    kubeflow_pod_labels: bool = False
    # The Kueue LocalQueue the job is labelled for (kueue.x-k8s.io/queue-name): only told in the status.
    queue_name: str | None = None
