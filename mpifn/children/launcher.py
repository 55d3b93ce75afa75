"""The launcher Job: an init step that asks the probe for the hostfile, then the user's mpirun."""

import hashlib
from typing import Any

import orjson

from mpifn import api, naming
from mpifn.children import pod
from mpifn.children.pod import JsonObject
from mpifn.children.podgroup import Gang, join
from mpifn.flavours import flavour
from mpifn.model import MPIJob
from mpifn.settings import Settings
from mpifn.signing import Signed, SignedJob

INIT_ENTRYPOINT = "/usr/local/bin/mpifn-launcher-init"
INIT_NAME = "mpifn-init"
TERMINATION_POLICY = "FallbackToLogsOnError"
PROBE_TIMEOUT_SECONDS = 5


def probe_request(job: MPIJob, mpi_implementation: str) -> JsonObject:
    """The body the launcher (and discover_hosts.sh) sends to the probe function."""
    return {
        "namespace": job.namespace,
        "name": job.name,
        "replicas": job.replicas,
        "minReplicas": job.min_replicas,
        "slots": job.slots,
        "sshPort": job.ssh_port,
        "mpiImplementation": mpi_implementation,
        "timeoutSeconds": PROBE_TIMEOUT_SECONDS,
    }


def launcher_job(
    job: MPIJob,
    suspend: bool,
    settings: Settings,
    gang: Gang | None = None,
    frozen_template: JsonObject | None = None,
    signed: Signed | None = None,
) -> JsonObject:
    """`frozen_template` is the pod template of the Job already running: a Job's template
    is immutable, so once created only `suspend` may change, and the scheduling directives
    while it is suspended (the caller puts those in: hooks._placed_launcher_template). It is
    used as given, not copied: the caller hands over a template of its own (hooks parse it
    afresh per call).
    `signed` (the job's signed probe fields and their signature) goes into a new template only."""
    template = frozen_template if frozen_template else launcher_pod_template(job, settings, gang, signed)
    spec: JsonObject = {"backoffLimit": job.run_policy.backoff_limit, "suspend": suspend, "template": template}
    if job.run_policy.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = job.run_policy.active_deadline_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": naming.launcher_name(job.name),
            "labels": naming.role_labels(job.name, api.ROLE_LAUNCHER),
            "annotations": {api.LAUNCHER_TEMPLATE_ANNOTATION: template_sha256(template)},
        },
        "spec": spec,
    }


def template_sha256(template: JsonObject) -> str:
    """The fingerprint of a pod template: SHA-256 of its JSON with sorted keys."""
    return hashlib.sha256(orjson.dumps(template, option=orjson.OPT_SORT_KEYS)).hexdigest()


def launcher_pod_template(job: MPIJob, settings: Settings, gang: Gang | None, signed: Signed | None) -> JsonObject:
    """The pod template of a new launcher Job, as the spec asks now."""
    return join(_pod_template(job, settings, signed), job, gang)


# The parts of a Job's pod template that Kubernetes lets change while the Job is suspended and
# has not started (KEP 2926; of affinity only nodeAffinity): where Kueue writes the placement
# a ResourceFlavor gives on admission, and takes it back on eviction.
_DIRECTIVES = (
    ("metadata", "labels"),
    ("metadata", "annotations"),
    *(("spec", f) for f in ("nodeSelector", "tolerations", "schedulingGates")),
)
# The labels the API server puts in a Job's pod template (and requires there): not directives.
JOB_CONTROLLER_LABELS = (
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
    "controller-uid",
    "job-name",
)


def scheduling_directives(template: JsonObject) -> list[Any]:
    """The scheduling directives of a pod template, in _DIRECTIVES' order, then nodeAffinity
    (None where absent, or where the template's shape has no such field)."""
    found = [_part(template, section).get(name) for section, name in _DIRECTIVES]
    labels = found[0]
    if isinstance(labels, dict):
        found[0] = {key: value for key, value in labels.items() if key not in JOB_CONTROLLER_LABELS} or None
    affinity = _part(template, "spec").get("affinity")
    return [*found, affinity.get("nodeAffinity") if isinstance(affinity, dict) else None]


def with_scheduling_directives(kept: JsonObject, fresh: JsonObject, server_labels: dict[str, Any]) -> JsonObject:
    """`kept` (the template of a launcher Job that exists) with the scheduling directives of
    `fresh` (the one the spec asks for now), everything else as it was, and the labels the API
    server put in the Job's template (`server_labels`, job_controller_labels of the Job as
    stored: asking for a template without them would remove them under server-side apply,
    which the API server refuses). A `kept` whose metadata, spec or affinity is not an object
    is returned as it is: no directive can be put there."""
    metadata, spec = kept.get("metadata", {}), kept.get("spec", {})
    affinity = spec.get("affinity", {}) if isinstance(spec, dict) else None
    if not (isinstance(metadata, dict) and isinstance(spec, dict) and isinstance(affinity, dict)):
        return kept
    parts = {"metadata": dict(metadata), "spec": dict(spec)}
    *values, node_affinity = scheduling_directives(fresh)
    for (section, name), value in zip(_DIRECTIVES, values, strict=True):
        _put(parts[section], name, value)
    other_affinity = {key: value for key, value in affinity.items() if key != "nodeAffinity"}
    _put(parts["spec"], "affinity", _put(other_affinity, "nodeAffinity", node_affinity) or None)
    if server_labels:
        parts["metadata"]["labels"] = {**(parts["metadata"].get("labels") or {}), **server_labels}
    return {**kept, **parts}


def job_controller_labels(template: Any) -> dict[str, Any]:
    """The labels of JOB_CONTROLLER_LABELS in a pod template; none where it has no labels object."""
    labels = _part(template, "metadata").get("labels") if isinstance(template, dict) else None
    return {key: labels[key] for key in JOB_CONTROLLER_LABELS if key in labels} if isinstance(labels, dict) else {}


def _put(obj: JsonObject, key: str, value: Any) -> JsonObject:
    """`obj` with `key` set to `value`, or without it when `value` is None."""
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = value
    return obj


def _part(template: JsonObject, section: str) -> JsonObject:
    part = template.get(section)
    return part if isinstance(part, dict) else {}


def _pod_template(job: MPIJob, settings: Settings, signed: Signed | None) -> JsonObject:
    labels = naming.pod_labels(job.name, api.ROLE_LAUNCHER, job.kubeflow_pod_labels)
    metadata, spec = pod.pod_template(job.launcher_template, labels)
    mounts = [
        {"name": pod.MPI_VOLUME, "mountPath": api.MPI_DIR},
        *pod.mpi_mounts(job),
    ]
    containers = [pod.hardened_container(c) for c in spec["containers"]]
    main = containers[0]
    # mpirun's last lines reach the pod status (and the MPIJob's) without an API call.
    main.setdefault("terminationMessagePolicy", TERMINATION_POLICY)
    if job.image:
        main["image"] = job.image
    main.setdefault("image", settings.default_image)
    # discover_hosts.sh, run by the main container, sends the signature too.
    ours = [*flavour(job.mpi_implementation).launcher_env, *_signature_env(signed)]
    main["env"] = pod.merge_env(main.get("env"), pod.env(ours))
    main["volumeMounts"] = [*main.get("volumeMounts", []), *mounts]
    spec["containers"] = containers
    spec["initContainers"] = [
        _init_container(job, settings, signed),
        *(pod.hardened_container(c) for c in spec.get("initContainers", [])),
    ]
    spec["volumes"] = [
        *spec.get("volumes", []),
        {"name": pod.MPI_VOLUME, "emptyDir": {}},
        *pod.mpi_volumes(job),
    ]
    spec["restartPolicy"] = "Never"
    return {"metadata": metadata, "spec": spec}


def _init_container(job: MPIJob, settings: Settings, signed: Signed | None) -> JsonObject:
    request = probe_request(job, job.mpi_implementation)
    variables = [
        ("MPIFN_PROBE_URL", settings.probe_url),
        ("MPIFN_JOB_NAME", job.name),
        ("MPIFN_JOB_NAMESPACE", job.namespace),
        ("MPIFN_REPLICAS", str(job.replicas)),
        ("MPIFN_MIN_REPLICAS", str(job.min_replicas)),
        ("MPIFN_SLOTS", str(job.slots)),
        ("MPIFN_SSH_PORT", str(job.ssh_port)),
        ("MPIFN_MPI_IMPLEMENTATION", job.mpi_implementation),
        ("MPIFN_PROBE_TIMEOUT_SECONDS", str(request["timeoutSeconds"])),
        ("MPIFN_INIT_DEADLINE_SECONDS", str(settings.init_deadline_seconds)),
        ("MPIFN_HOSTFILE", api.HOSTFILE),
        *_signature_env(signed),
    ]
    return pod.hardened_container(
        {
            "name": INIT_NAME,
            "image": settings.init_image,
            "command": [INIT_ENTRYPOINT],
            "env": pod.env(variables),
            # Its verdict is written as the termination message; its log covers a crash.
            "terminationMessagePolicy": TERMINATION_POLICY,
            "volumeMounts": [{"name": pod.MPI_VOLUME, "mountPath": api.MPI_DIR}],
        }
    )


def _signature_env(signed: Signed | None) -> list[tuple[str, str]]:
    if signed is None:
        return []
    job, signature = signed
    return [("MPIFN_JOB_UID", job.uid), ("MPIFN_PROBE_EXPIRES", str(job.expires)), ("MPIFN_PROBE_SIGNATURE", signature)]


class UnreadableTemplate(ValueError):
    """A launcher's pod template with a value of another JSON type where its init step's
    signed fields are: nothing tells what the probe would be sent."""


def signed_in(template: Any) -> Signed | None:
    """The signed probe fields of a launcher's pod template, as _init_container wrote them;
    None when it carries no signature or one the probe cannot read. Raises UnreadableTemplate
    when the template's shape (objects, lists, string names and values) is not a pod template's."""
    spec = _field(template, "spec", dict)
    containers = _field(spec, "initContainers", list) or []
    init: JsonObject = next((c for c in containers if _field(c, "name", str) == INIT_NAME), {})
    env = {_field(item, "name", str): _field(item, "value", str) for item in _field(init, "env", list) or []}
    if not env.get("MPIFN_PROBE_SIGNATURE"):
        return None
    try:
        job = SignedJob(
            namespace=str(env["MPIFN_JOB_NAMESPACE"]),
            name=str(env["MPIFN_JOB_NAME"]),
            uid=str(env["MPIFN_JOB_UID"]),
            replicas=int(env["MPIFN_REPLICAS"]),
            min_replicas=int(env["MPIFN_MIN_REPLICAS"]),
            slots=int(env["MPIFN_SLOTS"]),
            ssh_port=int(env["MPIFN_SSH_PORT"]),
            expires=int(env["MPIFN_PROBE_EXPIRES"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return job, str(env["MPIFN_PROBE_SIGNATURE"])


def _field(value: Any, key: str, kind: type) -> Any:
    """value[key], of `kind`, when value is an object; None when absent (the API server
    leaves out what is empty: it never sends null there)."""
    if not isinstance(value, dict):
        raise UnreadableTemplate(f"not an object where {key} is read")
    found = value.get(key)
    if key in value and not isinstance(found, kind):
        raise UnreadableTemplate(f"{key}: not a {kind.__name__}")
    return found


def probe_request_json(job: MPIJob, mpi_implementation: str) -> str:
    """The request of discover_hosts.sh: the fields the launcher's signature covers, as signed."""
    return orjson.dumps(probe_request(job, mpi_implementation), option=orjson.OPT_SORT_KEYS).decode()
