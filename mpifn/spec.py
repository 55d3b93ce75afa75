"""Parse and validate an MPIJob (own API, the seed's, or Kubeflow's) into one typed model."""

from dataclasses import replace
from functools import lru_cache
from typing import Any

from mpifn import api, naming, schema
from mpifn.errors import InvalidSpec, RequestError
from mpifn.kubeflow import kubeflow_job
from mpifn.model import JsonObject, MPIJob, RunPolicy
from mpifn.settings import Settings
from mpifn.validation import Validator, has_containers, unknown_fields, validator
from mpifn.validation import problems as schema_problems
from mpifn.validation import show as _show

SUPPORTED_API_VERSIONS = (api.API_VERSION, api.SEED_API_VERSION, api.KUBEFLOW_API_VERSION)


def parse_job(parent: JsonObject, settings: Settings) -> MPIJob:
    """The MPIJob model of `parent`, whichever API it uses; InvalidSpec lists every bad field,
    and every field its CRD does not declare, named as the API server's strict field validation
    names it (`unknown field "spec.template.spec.containers[0].comand"`): a CRD of an older
    install, or a request posted by hand, may still hold one, and a child must never get it."""
    metadata = _identity(parent)
    spec = parent.get("spec")
    if not isinstance(spec, dict):
        raise InvalidSpec([f"spec: must be an object, got {_show(spec)}"])
    name, namespace = metadata["name"], metadata.get("namespace") or "default"
    generation = int(metadata.get("generation") or 0)
    problems = []
    name_problem = naming.job_name_problem(name)
    if name_problem:
        problems.append(f"metadata.name: {name_problem}")
    try:
        if parent["apiVersion"] == api.KUBEFLOW_API_VERSION:
            job = kubeflow_job(name, namespace, generation, spec)
        else:
            job = _own_job(name, namespace, generation, spec)
    except InvalidSpec as invalid:
        raise InvalidSpec(sorted(problems + invalid.problems)) from None
    if job.replicas > settings.max_replicas:
        problems.append(
            f"spec.replicas: must be at most {settings.max_replicas} (the operator's "
            f"MPIFN_MAX_REPLICAS), got {job.replicas}"
        )
    if problems:
        raise InvalidSpec(sorted(problems))
    # Kueue manages kubeflow.org MPIJobs only: on a job of another API its label changes nothing.
    kubeflow = parent["apiVersion"] == api.KUBEFLOW_API_VERSION
    queue = (metadata.get("labels") or {}).get(api.KUEUE_QUEUE_LABEL) if kubeflow else None
    return replace(job, queue_name=queue) if isinstance(queue, str) and queue else job


def _identity(parent: JsonObject) -> JsonObject:
    if parent.get("apiVersion") not in SUPPORTED_API_VERSIONS or parent.get("kind") != api.KIND:
        raise RequestError(
            f"parent: expected kind {api.KIND} with apiVersion one of "
            f"{', '.join(SUPPORTED_API_VERSIONS)}, got {parent.get('kind')!r} {parent.get('apiVersion')!r}"
        )
    metadata = parent.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise RequestError("parent.metadata.name: required")
    return metadata


def _own_job(name: str, namespace: str, generation: int, spec: JsonObject) -> MPIJob:
    """The project's own API, which also reads the seed project's field names."""
    problems = schema_problems(_validator(), spec, "spec") + unknown_fields(schema.crd_spec(), spec, "spec")
    if problems:
        raise InvalidSpec(problems)
    replicas = spec["replicas"]
    daemons = _aliased(spec, "daemons", "daemon", False, problems)
    slots = _aliased(spec, "slotsPerWorker", "slots", 1, problems)
    min_replicas = int(spec.get("minReplicas") or (1 if daemons else replicas))
    if min_replicas > replicas:
        problems.append(f"spec.minReplicas: must be at most spec.replicas ({replicas}), got {min_replicas}")
    launcher_template, worker_template = _templates(spec, problems)
    if problems:
        raise InvalidSpec(problems)
    return MPIJob(
        name=name,
        namespace=namespace,
        replicas=replicas,
        min_replicas=min_replicas,
        slots=slots,
        daemons=daemons,
        ssh_port=spec.get("sshPort", api.DEFAULT_SSH_PORT),
        mpi_implementation=spec.get("mpiImplementation", "OpenMPI"),
        image=spec.get("image"),
        launcher_template=launcher_template,
        worker_template=worker_template,
        run_policy=RunPolicy.parse(spec),
        generation=generation,
    )


def _aliased(spec: JsonObject, name: str, seed_name: str, default: Any, problems: list[str]) -> Any:
    """A field that the seed project spelled differently; both spellings must agree."""
    if name in spec and seed_name in spec and spec[name] != spec[seed_name]:
        problems.append(
            f"spec.{name}: {_show(spec[name])} contradicts spec.{seed_name}: {_show(spec[seed_name])}; keep one of them"
        )
    return spec.get(name, spec.get(seed_name, default))


def _templates(spec: JsonObject, problems: list[str]) -> tuple[JsonObject, JsonObject]:
    shared = spec.get("template")
    templates = {role: spec.get(role, {}).get("template", shared) for role in ("launcher", "worker")}
    found: list[str] = []
    for role, template in templates.items():
        where = "spec.template" if template is shared else f"spec.{role}.template"
        if template is None:
            found.append(
                "spec.template: required (a pod template whose first container runs mpirun), "
                f"unless spec.{role}.template is given"
            )
        elif role == "worker" and template is templates["launcher"]:
            continue  # the one shared template, checked already
        elif not has_containers(template):
            found.append(f"{where}.spec.containers: must be a non-empty list of containers")
        else:
            found += schema_problems(_template_validator(), template, where)
    problems.extend(dict.fromkeys(found))
    return templates["launcher"] or {}, templates["worker"] or {}


@lru_cache(maxsize=1)
def _validator() -> Validator:
    return validator(schema.SPEC)


_OBJECTS: JsonObject = {"type": "array", "items": {"type": "object"}}
_CONTAINER_SHAPE: JsonObject = {
    "type": "object",
    "properties": {
        **{field: _OBJECTS for field in ("env", "ports", "volumeMounts")},
        "securityContext": {"type": "object"},
    },
}
# The parts of a pod template the builders read, by type: a template that breaks them is
# an InvalidSpec naming the field, never a crash (the CRD keeps templates free-form).
TEMPLATE_SHAPE: JsonObject = {
    "type": "object",
    "properties": {
        "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
        "spec": {
            "type": "object",
            "properties": {
                "containers": {"type": "array", "items": _CONTAINER_SHAPE},
                "initContainers": {"type": "array", "items": _CONTAINER_SHAPE},
                "volumes": _OBJECTS,
                "securityContext": {"type": "object"},
                "affinity": {
                    "type": "object",
                    "properties": {
                        "podAntiAffinity": {
                            "type": "object",
                            "properties": {"requiredDuringSchedulingIgnoredDuringExecution": {"type": "array"}},
                        }
                    },
                },
            },
        },
    },
}


@lru_cache(maxsize=1)
def _template_validator() -> Validator:
    return validator(TEMPLATE_SHAPE)
