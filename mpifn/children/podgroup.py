"""Opt-in gang scheduling: a PodGroup child for Volcano or for scheduler-plugins.

The operator emits a PodGroup when the CompositeController lists podgroups among its
child resources (the kustomize Components deploy/components/gang-*/ add that rule), so the
choice lives in one place: the installed manifests.
"""

from dataclasses import dataclass
from typing import Any

from mpifn import naming
from mpifn.model import JsonObject, MPIJob


@dataclass(frozen=True)
class Gang:
    api_version: str
    scheduler_name: str
    pod_labels: tuple[str, ...] = ()
    pod_annotations: tuple[str, ...] = ()

    def pod_metadata(self, group: str) -> tuple[dict[str, str], dict[str, str]]:
        return {key: group for key in self.pod_labels}, {key: group for key in self.pod_annotations}


VOLCANO = Gang("scheduling.volcano.sh/v1beta1", "volcano", pod_annotations=("scheduling.k8s.io/group-name",))
SCHEDULER_PLUGINS = Gang(
    "scheduling.x-k8s.io/v1alpha1", "scheduler-plugins-scheduler", pod_labels=("scheduling.x-k8s.io/pod-group",)
)
GANGS = {gang.api_version: gang for gang in (VOLCANO, SCHEDULER_PLUGINS)}


def gang_of(controller: Any) -> Gang | None:
    """The gang scheduler the installed CompositeController asks for, if any."""
    spec = controller.get("spec") if isinstance(controller, dict) else None
    rules = spec.get("childResources") if isinstance(spec, dict) else None
    for rule in rules if isinstance(rules, list) else []:
        version = rule.get("apiVersion") if isinstance(rule, dict) else None
        if isinstance(version, str) and version in GANGS and rule.get("resource") == "podgroups":
            return GANGS[version]
    return None


def pod_group(job: MPIJob, gang: Gang) -> JsonObject:
    """All workers that must start, plus the launcher, are scheduled together or not at all."""
    return {
        "apiVersion": gang.api_version,
        "kind": "PodGroup",
        "metadata": {"name": job.name, "labels": naming.job_labels(job.name)},
        "spec": {"minMember": job.min_replicas + 1},
    }


def join(template: JsonObject, job: MPIJob, gang: Gang | None) -> JsonObject:
    """`template` (a pod template) made a member of the job's PodGroup."""
    if gang is None:
        return template
    labels, annotations = gang.pod_metadata(job.name)
    metadata = template.setdefault("metadata", {})
    if labels:
        metadata["labels"] = {**metadata.get("labels", {}), **labels}
    if annotations:
        metadata["annotations"] = {**metadata.get("annotations", {}), **annotations}
    template["spec"]["schedulerName"] = gang.scheduler_name
    return template
