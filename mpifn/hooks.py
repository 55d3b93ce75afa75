"""The Metacontroller hooks: request -> response.

What is pure: each hook's answer is a function of its arguments only. Besides the request,
sync and finalize take the settings, the time (`now`) and the key source (`keys`); they
read no clock and no environment, keep nothing between calls but caches of pure results
(compiled validators, rendered templates and ConfigMap files), and call no server. The
key source is the one way out: sync asks `keys.new_ssh_key_pair()` once for a job without
an SSH Secret (a new random pair, unless the source says otherwise), `keys.signing_key()`
when it signs a new launcher and `keys.accepted_keys()` while a launcher waits to start
(FileKeys reads the key files then). So with a key source that answers alike every time,
the same request and arguments give the same answer, byte for byte. customize takes only
the request. The HTTP edge (mpifn.endpoints.create_app) supplies the arguments.

sync and finalize serve the MPIJob controllers; sync and customize also serve the explain
controller, whose parents are MPIJobExplanations (mpifn.explain): one function, dispatched
on the parent's kind."""

from dataclasses import replace
from datetime import datetime
from typing import Any

from mpifn import api, explain, lifecycle, naming, signing
from mpifn.children.config import job_config
from mpifn.children.explanation import job_explanation
from mpifn.children.launcher import (
    UnreadableTemplate,
    job_controller_labels,
    launcher_job,
    launcher_pod_template,
    scheduling_directives,
    signed_in,
    template_sha256,
    with_scheduling_directives,
)
from mpifn.children.podgroup import Gang, gang_of, pod_group
from mpifn.children.service import worker_service
from mpifn.children.ssh import ssh_secret
from mpifn.children.workers import worker_statefulset
from mpifn.errors import InvalidSpec, RequestError
from mpifn.keys import Keys
from mpifn.kubeflow import external_manager
from mpifn.lifecycle import Lifecycle
from mpifn.model import MPIJob
from mpifn.observed import Observed, desired_form, object_problems, observed_children
from mpifn.pods import pod_group_problem, read_explanation
from mpifn.settings import Settings
from mpifn.signing import Signed, SignedJob
from mpifn.spec import parse_job
from mpifn.status import explain as explain_status
from mpifn.status import invalid_spec_status, job_status

JsonObject = dict[str, Any]


def sync(request: Any, settings: Settings, now: datetime, keys: Keys) -> JsonObject:
    """Desired children and status of one MPIJob (or of an MPIJobExplanation)."""
    parent, observed = _read(request)
    if explain.is_explanation(parent):
        return explain.sync(parent, request.get("related"))
    if request.get("finalizing"):
        return finalize(request, settings, now, keys)
    previous = parent.get("status") or {}
    if _external_manager(parent):
        return _left_alone(parent)
    try:
        job = parse_job(parent, settings)
    except InvalidSpec as invalid:
        generation = int(parent["metadata"].get("generation") or 0)
        return {
            "status": invalid_spec_status(invalid.problems, generation, previous, lifecycle.timestamp(now)),
            # Never take running children away because of a bad edit: ask for them unchanged.
            "children": observed.desired_forms(),
        }
    state = lifecycle.decide(job, observed, previous, now)
    gang = gang_of(request.get("controller"))
    frozen = _frozen_launcher_template(observed, job, settings, gang)
    if _signature_outdated(observed.get("Job", naming.launcher_name(job.name)), state, keys, now):
        # A launcher that has not started yet and whose probe signature would be refused
        # (expired while suspended, or made with a key no longer accepted) cannot be re-signed:
        # its template is immutable. It goes now and comes back, signed afresh, on the next sync.
        state = replace(state, keep_launcher=False)
    frozen, state = _placed_launcher_template(frozen, observed, job, state, settings, gang)
    explanation = observed.get(api.EXPLANATION_KIND, naming.explanation_name(job.name))
    report = read_explanation(explanation, job.namespace, job.name)
    waiting_gang = pod_group_problem(observed.get("PodGroup", job.name), job.min_replicas + 1) if gang else None
    told = explain_status(state, report, waiting_gang, previous)
    status = job_status(state, job.min_replicas, job.generation, previous, lifecycle.timestamp(now), told)
    children = (
        [] if state.expired else desired_children(job, observed, state, settings, keys, gang, frozen, _uid(parent), now)
    )
    explaining, explain_later = (
        explain.wanted(state, status, previous, explanation, now, settings, observed.lacks_any(children))
        if explain.enabled(request.get("controller"))
        else (False, None)
    )
    if explaining and not state.expired:
        children.append(job_explanation(job, settings))
    response: JsonObject = {"status": status, "children": children}
    resyncs = [seconds for seconds in (state.resync_after_seconds, explain_later) if seconds is not None]
    if resyncs:
        response["resyncAfterSeconds"] = min(resyncs)
    return response


def customize(request: Any) -> JsonObject:
    """The explain controller's customize hook: the pods of the explanation's job. A
    controller of an older install that still asks this for an MPIJob gets no pods (the
    explain controller reads them now)."""
    parent = _parent(request)
    if explain.is_explanation(parent):
        return explain.customize(parent)
    return {"relatedResources": []}


def finalize(request: Any, settings: Settings, now: datetime, keys: Keys) -> JsonObject:
    """Stop the launcher first, then the workers; finalized once no pod of the job runs."""
    parent, observed = _read(request)
    previous = parent.get("status") or {}
    if _external_manager(parent):
        return {**_left_alone(parent), "finalized": True}
    try:
        job = parse_job(parent, settings)
    except InvalidSpec:
        name = parent["metadata"]["name"]
        return {
            "status": previous,
            "children": _stopping_as_applied(observed, name),
            "finalized": _nothing_runs(observed, name),
        }
    state = lifecycle.decide(job, observed, previous, now)
    gang = gang_of(request.get("controller"))
    launcher_running = state.launcher.active > 0
    stopping = replace(
        state,
        run_workers=state.run_workers if launcher_running else 0,
        suspend_launcher=True,
        # Teardown never brings back a launcher that cleanPodPolicy All already removed.
        keep_launcher=state.launcher.exists,
    )
    children = (
        []  # the TTL already removed them; nothing is recreated only to be deleted
        if state.expired
        else desired_children(
            job,
            observed,
            stopping,
            settings,
            keys,
            gang,
            _frozen_launcher_template(observed, job, settings, gang),
            _uid(parent),
            now,
            generate_secret=False,
        )
    )
    done = _nothing_runs(observed, job.name)
    status = job_status(state, job.min_replicas, job.generation, previous, lifecycle.timestamp(now))
    status["message"] = (
        "deleting: all pods stopped"
        if done
        else "deleting: stopping the launcher before the workers"
        if launcher_running
        else f"deleting: stopping {state.workers.current} worker pods"
    )
    return {"status": status, "children": children, "finalized": done}


def desired_children(
    job: MPIJob,
    observed: Observed,
    state: Lifecycle,
    settings: Settings,
    keys: Keys,
    gang: Gang | None,
    frozen_launcher: JsonObject | None,
    uid: str,
    now: datetime,
    generate_secret: bool = True,
) -> list[JsonObject]:
    """`frozen_launcher` is the existing launcher's pod template (_frozen_launcher_template,
    with the directives of _placed_launcher_template)."""
    children = [
        worker_service(job),
        worker_statefulset(job, state.run_workers, settings, gang),
        job_config(job, settings),
    ]
    if gang is not None:
        children.append(pod_group(job, gang))
    secret = observed.get("Secret", naming.ssh_secret_name(job.name))
    if secret is not None or generate_secret:
        children.append(ssh_secret(job.name, secret, keys.new_ssh_key_pair))
    if state.keep_launcher:
        signed = None if frozen_launcher else _signed(job, uid, now, settings, keys)
        children.append(launcher_job(job, state.suspend_launcher, settings, gang, frozen_launcher, signed))
    return sorted(children, key=lambda child: (child["kind"], child["metadata"]["name"]))


def _signed(job: MPIJob, uid: str, now: datetime, settings: Settings, keys: Keys) -> Signed | None:
    """The probe fields of a new launcher, signed until its ticket lifetime ends; None when
    signing is off."""
    key = keys.signing_key()
    if key is None:
        return None
    lifetime = signing.ticket_lifetime(settings, job.run_policy.active_deadline_seconds)
    fields = SignedJob(
        namespace=job.namespace,
        name=job.name,
        uid=uid,
        replicas=job.replicas,
        min_replicas=job.min_replicas,
        slots=job.slots,
        ssh_port=job.ssh_port,
        expires=int(now.timestamp()) + lifetime,
    )
    return fields, signing.signature(fields, key)


def _frozen_launcher_template(
    observed: Observed, job: MPIJob, settings: Settings, gang: Gang | None
) -> JsonObject | None:
    """The pod template of the launcher Job that exists (immutable once created but for its
    scheduling directives while suspended), as it was asked for: from its last-applied
    annotation (Metacontroller's dynamic apply); else, when rendering it again with the
    signature it carries gives back the fingerprint it was made with (server-side apply
    keeps no copy), that rendering; else the observed object's own template, which nothing
    after this edits. Asking for exactly what was applied lets Metacontroller skip the Job
    (server-side apply compares what it asks for with what it asked for last). The
    launcher keeps it without a copy."""
    running = observed.get("Job", naming.launcher_name(job.name))
    if running is None:
        return None
    found = next((t for t in map(_pod_template_of, (desired_form(running), running)) if t), None)
    metadata = running.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    recorded = annotations.get(api.LAUNCHER_TEMPLATE_ANNOTATION) if isinstance(annotations, dict) else None
    if found is None or not isinstance(recorded, str) or template_sha256(found) == recorded:
        return found
    try:
        again = launcher_pod_template(job, settings, gang, signed_in(found))
    except UnreadableTemplate:
        return found
    return again if template_sha256(again) == recorded else found


def _pod_template_of(job: JsonObject) -> JsonObject | None:
    spec = job.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    return template if isinstance(template, dict) and template else None


def _placed_launcher_template(
    kept: JsonObject | None, observed: Observed, job: MPIJob, state: Lifecycle, settings: Settings, gang: Gang | None
) -> tuple[JsonObject | None, Lifecycle]:
    """The template of the launcher Job that exists (`kept`), and the lifecycle, such that a
    suspended launcher Job runs again only with the scheduling directives the spec asks for
    now: Kueue puts a ResourceFlavor's node selector, tolerations, labels, annotations and
    scheduling gates in the spec on admission and takes them back on eviction. Kubernetes
    lets them change in a suspended Job with no pod that has not started (from 1.36 it
    forgets the start when the Job is suspended): they are put in. One with pods left stays
    suspended until they are gone; one that started is replaced (it goes now and comes back,
    with them, on the next sync). A finished job's launcher stays as it is."""
    launcher = state.launcher
    if kept is None or not launcher.suspended or state.phase in lifecycle.FINISHED:
        return kept, state
    fresh = launcher_pod_template(job, settings, gang, None)
    if scheduling_directives(kept) == scheduling_directives(fresh):
        return kept, state
    if launcher.pods():
        return kept, replace(state, suspend_launcher=True)
    if not launcher.started:
        stored = observed.get("Job", naming.launcher_name(job.name)) or {}
        return with_scheduling_directives(kept, fresh, job_controller_labels(_pod_template_of(stored))), state
    return kept, replace(state, keep_launcher=False)


def _signature_outdated(running: JsonObject | None, state: Lifecycle, keys: Keys, now: datetime) -> bool:
    """Whether the probe would refuse the signature in the template of the launcher Job that
    exists (`running`) and has not started: read from the Job itself, not from its last-applied
    annotation, which is only a record. A template that cannot be read there tells nothing: the
    launcher stays as it is."""
    launcher = state.launcher
    if running is None or not (
        state.keep_launcher and launcher.exists and launcher.active == 0 and launcher.state in ("Waiting", "Suspended")
    ):
        return False
    accepted = keys.accepted_keys()
    if not accepted:
        return False
    spec = running.get("spec")
    try:
        signed = signed_in(spec.get("template") if isinstance(spec, dict) else None)
    except UnreadableTemplate:
        return False
    return signing.outdated(signed, accepted, now.timestamp())


def _external_manager(parent: JsonObject) -> str | None:
    """The other controller a kubeflow.org job is handed to by runPolicy.managedBy, if any."""
    return external_manager(parent.get("spec")) if parent.get("apiVersion") == api.KUBEFLOW_API_VERSION else None


def _left_alone(parent: JsonObject) -> JsonObject:
    """The answer for a job another controller runs (Kubeflow's operator skips it the same
    way): no child, and its status exactly as that controller wrote it, so that Metacontroller
    changes nothing in it (it adds observedGeneration when missing or different)."""
    return {"status": parent.get("status") or {}, "children": []}


def _uid(parent: JsonObject) -> str:
    return str(parent["metadata"].get("uid") or "")


def _stopping_as_applied(observed: Observed, job_name: str) -> list[JsonObject]:
    """The teardown of a job whose spec can no longer be read, in the same order as any other:
    every child as last applied (none is taken away because of a bad edit), the launcher
    suspended, and the workers scaled to 0 once the launcher no longer runs."""
    launcher_running = lifecycle.read_launcher(observed, job_name).active > 0
    forms = observed.desired_forms()
    for index, form in enumerate(forms):
        name = form["metadata"]["name"]
        if form["kind"] == "Job" and name == naming.launcher_name(job_name):
            forms[index] = {**form, "spec": {**form.get("spec", {}), "suspend": True}}
        elif form["kind"] == "StatefulSet" and name == naming.worker_name(job_name) and not launcher_running:
            forms[index] = {**form, "spec": {**form.get("spec", {}), "replicas": 0}}
    return forms


def _nothing_runs(observed: Observed, job_name: str) -> bool:
    workers = lifecycle.read_workers(observed, job_name, run_workers=0)
    return lifecycle.read_launcher(observed, job_name).active == 0 and workers.current == 0


def _read(request: Any) -> tuple[JsonObject, Observed]:
    parent = _parent(request)
    related = request.get("related")
    if related is not None and not isinstance(related, dict):
        raise RequestError(f"related: must be an object keyed by Kind.version, got {type(related).__name__}")
    return parent, observed_children(request.get("children"))


def _parent(request: Any) -> JsonObject:
    if not isinstance(request, dict):
        raise RequestError(f"request: must be a JSON object, got {type(request).__name__}")
    parent = request.get("parent")
    if not isinstance(parent, dict):
        raise RequestError("parent: required (the MPIJob object Metacontroller sends)")
    metadata = parent.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise RequestError("parent.metadata.name: required")
    problems = object_problems(parent, "parent")
    if problems:
        raise RequestError("; ".join(problems))
    return parent
