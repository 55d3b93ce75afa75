"""MPIJobs as the cluster suites submit and read them back (helpers, no tests)."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import yaml

from mpifn import api, naming
from testkit.cluster import REPO_ROOT, Cluster
from testkit.driver import Call, Driver
from testkit.kwok import ANN_HOLD

HELLO = REPO_ROOT / "examples" / "hello.yaml"
CHILD_KINDS = {
    "services": "Service",
    "statefulsets.apps": "StatefulSet",
    "secrets": "Secret",
    "configmaps": "ConfigMap",
    "jobs.batch": "Job",
}
TIMEOUT = 90
# qualified: other suites install the kubeflow and seed MPIJob CRDs, whose short names are the same
MPIJOBS = "mpijobs.mpifn.dev"


def fresh_namespace(cluster: Cluster, test_name: str) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (without waiting) afterwards."""
    base = re.sub(r"[^a-z0-9-]", "-", test_name.lower())[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:5]}"
    cluster.create_namespace(name)
    yield name
    cluster.kubectl_run("delete", "namespace", name, "--wait=false", check=False)


def hello(namespace: str, replicas: int = 4, launcher_annotations: dict | None = None, **spec) -> dict:
    """examples/hello.yaml, changed for the test (the file itself stays as shipped)."""
    job = yaml.safe_load(Path(HELLO).read_text())
    job["metadata"]["namespace"] = namespace
    job["spec"]["replicas"] = replicas
    job["spec"].update(spec)
    if launcher_annotations:  # spec.launcher.template replaces spec.template for the launcher
        template = copy.deepcopy(job["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("annotations", {}).update(launcher_annotations)
        job["spec"]["launcher"] = {"template": template}
    return job


def submit(cluster: Cluster, job: dict) -> dict:
    cluster.apply(job)
    return cluster.get(MPIJOBS, job["metadata"]["name"], job["metadata"]["namespace"])


def mpijob(cluster: Cluster, namespace: str, name: str = "hello") -> dict:
    return cluster.get(MPIJOBS, name, namespace)


def owned_children(
    cluster: Cluster, namespace: str, uid: str, resources: tuple[str, ...] = tuple(CHILD_KINDS)
) -> dict[tuple[str, str], dict]:
    """Every child object (of the kinds the operator makes, or of `resources`) controlled by
    the parent uid, read with one request."""
    found = {}
    for obj in cluster.get(",".join(resources), namespace=namespace):
        refs = obj["metadata"].get("ownerReferences", [])
        if any(r["uid"] == uid and r.get("controller") for r in refs):
            found[(obj["kind"], obj["metadata"]["name"])] = obj
    return found


def pods(cluster: Cluster, namespace: str, role: str | None = None, job: str = "hello") -> list[dict]:
    selector = f"{api.LABEL_JOB}={job}" + (f",{api.LABEL_ROLE}={role}" if role else "")
    return cluster.get("pods", namespace=namespace, selector=selector)


def phase_is(cluster: Cluster, namespace: str, phase: str, name: str = "hello"):
    def check():
        job = mpijob(cluster, namespace, name)
        return job if job.get("status", {}).get("phase") == phase else None

    return check


def expected_children(name: str = "hello") -> set[tuple[str, str]]:
    return {
        ("Service", naming.worker_name(name)),
        ("StatefulSet", naming.worker_name(name)),
        ("Secret", naming.ssh_secret_name(name)),
        ("ConfigMap", naming.config_name(name)),
        ("Job", naming.launcher_name(name)),
    }


def running_job(cluster: Cluster, namespace: str, replicas: int = 2, name: str = "hello") -> dict:
    """A job whose launcher is held, Running with every worker ready; returns the MPIJob."""
    job = hello(namespace, replicas=replicas, launcher_annotations={ANN_HOLD: "true"})
    job["metadata"]["name"] = name
    submit(cluster, job)
    return cluster.wait_for(
        lambda: (
            (j := phase_is(cluster, namespace, "Running", name)()) and j["status"]["workers"]["ready"] == replicas and j
        ),
        f"{name} Running with {replicas} ready workers",
        timeout=TIMEOUT,
    )


def _versions(objects: list[dict]) -> dict[tuple[str, str], str]:
    return {(obj.get("kind", ""), obj["metadata"]["name"]): obj["metadata"]["resourceVersion"] for obj in objects}


def observed_versions(call: Call) -> dict[tuple[str, str], str]:
    """The resourceVersion of the parent and of each child a hook request carried."""
    objects = [
        call.request["parent"],
        *(o for group in call.request.get("children", {}).values() for o in group.values()),
    ]
    return _versions(objects)


def _ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def controllers_caught_up(children: dict[tuple[str, str], dict], job_pods: list[dict]) -> bool:
    """Whether the launcher Job's and the worker StatefulSet's statuses count the job's pods as
    they are now: their Kubernetes controllers have no status left to write (the Job
    controller batches pod changes for a second), so none will bring the MPIJob a sync."""
    live = [p for p in job_pods if not p["metadata"].get("deletionTimestamp")]
    by_role = {
        role: [p for p in live if p["metadata"]["labels"].get(api.LABEL_ROLE) == role]
        for role in (api.ROLE_LAUNCHER, api.ROLE_WORKER)
    }
    for (kind, _), child in children.items():
        status = child.get("status") or {}
        if kind == "StatefulSet":
            workers = by_role[api.ROLE_WORKER]
            counted = (status.get("replicas", 0), status.get("readyReplicas", 0), status.get("observedGeneration"))
            if counted != (len(workers), sum(map(_ready, workers)), child["metadata"].get("generation")):
                return False
        if kind == "Job":
            active = [p for p in by_role[api.ROLE_LAUNCHER] if p["status"].get("phase") in ("Pending", "Running")]
            if (status.get("active", 0), status.get("ready", 0)) != (len(active), sum(map(_ready, active))):
                return False
    return True


def settled_sync(cluster: Cluster, operator: Driver, namespace: str, name: str = "hello") -> Call | None:
    """The job's last good sync if it settled the job, else None: the Kubernetes controllers
    of its children have caught up with its pods, and the sync saw the MPIJob and each of
    its children (explanations too) at the resourceVersion they have now, so no change waits
    for a sync, and answered the status it saw, so the driver wrote none."""
    syncs = operator.proxy.calls_for(f"{namespace}/{name}", "sync", ok=True)
    if not syncs:
        return None
    last, job = syncs[-1], mpijob(cluster, namespace, name)
    seen = last.request["parent"]
    seen_children = [obj for group in last.request.get("children", {}).values() for obj in group.values()]
    # the driver adds the generation to the status it writes, as status.observedGeneration
    answered = {**(last.answer.get("status") or {}), "observedGeneration": seen["metadata"].get("generation")}
    children = owned_children(cluster, namespace, job["metadata"]["uid"], (*CHILD_KINDS, api.EXPLANATION_PLURAL))
    settled = (
        controllers_caught_up(children, pods(cluster, namespace, job=name))
        and seen["metadata"]["resourceVersion"] == job["metadata"]["resourceVersion"]
        and seen.get("status") == answered
        and _versions(seen_children) == _versions(list(children.values()))
    )
    return last if settled else None


def wait_settled(cluster: Cluster, operator: Driver, namespace: str, name: str = "hello") -> Call:
    """Wait for a sync that settled the job (settled_sync): after it, only a resync or a
    change by someone else brings another."""
    return cluster.wait_for(
        lambda: settled_sync(cluster, operator, namespace, name), f"a sync that settled {name}", timeout=TIMEOUT
    )
