"""Parse and validate an MPIJob (own API or the seed's) into one typed model."""

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jsonschema

from mpifn import api, naming, schema
from mpifn.errors import InvalidSpec, RequestError
from mpifn.settings import Settings
from mpifn.validation import problems as schema_problems
from mpifn.validation import show as _show
from mpifn.validation import validator

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class RunPolicy:
    clean_pod_policy: str = "Running"
    ttl_seconds_after_finished: int | None = None
    active_deadline_seconds: int | None = None
    backoff_limit: int = 0
    suspend: bool = False


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


SUPPORTED_API_VERSIONS = (api.API_VERSION, api.SEED_API_VERSION)


def parse_job(parent: JsonObject, settings: Settings) -> MPIJob:
    """The MPIJob model of `parent`; InvalidSpec lists every bad field."""
    metadata = _identity(parent)
    spec = parent.get("spec")
    if not isinstance(spec, dict):
        raise InvalidSpec([f"spec: must be an object, got {_show(spec)}"])
    problems = schema_problems(_validator(), spec, "spec")
    name_problem = naming.job_name_problem(metadata["name"])
    if name_problem:
        problems.append(f"metadata.name: {name_problem}")
    if problems:
        raise InvalidSpec(sorted(problems))
    return _build(metadata, spec, settings)


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


def _build(metadata: JsonObject, spec: JsonObject, settings: Settings) -> MPIJob:
    problems: list[str] = []
    replicas = spec["replicas"]
    if replicas > settings.max_replicas:
        problems.append(
            f"spec.replicas: must be at most {settings.max_replicas} (the operator's "
            f"MPIFN_MAX_REPLICAS), got {replicas}"
        )
    daemons = _aliased(spec, "daemons", "daemon", False, problems)
    slots = _aliased(spec, "slotsPerWorker", "slots", 1, problems)
    min_replicas = int(spec.get("minReplicas") or (1 if daemons else replicas))
    if min_replicas > replicas:
        problems.append(f"spec.minReplicas: must be at most spec.replicas ({replicas}), got {min_replicas}")
    launcher_template, worker_template = _templates(spec, problems)
    if problems:
        raise InvalidSpec(sorted(problems))
    run_policy = spec.get("runPolicy", {})
    return MPIJob(
        name=metadata["name"],
        namespace=metadata.get("namespace") or "default",
        replicas=replicas,
        min_replicas=min_replicas,
        slots=slots,
        daemons=daemons,
        ssh_port=spec.get("sshPort", 2222),
        mpi_implementation=spec.get("mpiImplementation", "OpenMPI"),
        image=spec.get("image"),
        launcher_template=launcher_template,
        worker_template=worker_template,
        run_policy=RunPolicy(
            clean_pod_policy=run_policy.get("cleanPodPolicy", "Running"),
            ttl_seconds_after_finished=run_policy.get("ttlSecondsAfterFinished"),
            active_deadline_seconds=run_policy.get("activeDeadlineSeconds"),
            backoff_limit=run_policy.get("backoffLimit", 0),
            suspend=run_policy.get("suspend", False),
        ),
        generation=int(metadata.get("generation") or 0),
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
        elif not _has_containers(template):
            found.append(f"{where}.spec.containers: must be a non-empty list of containers")
    problems.extend(dict.fromkeys(found))
    return templates["launcher"] or {}, templates["worker"] or {}


def _has_containers(template: Any) -> bool:
    pod = template.get("spec") if isinstance(template, dict) else None
    containers = pod.get("containers") if isinstance(pod, dict) else None
    return isinstance(containers, list) and bool(containers) and all(isinstance(c, dict) for c in containers)


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    return validator(schema.SPEC)
