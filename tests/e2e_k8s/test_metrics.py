"""MPIJob metrics with no operator process, from a real kube-state-metrics (issue 19, item 4).

The install is built as users build it (metacontroller/base with the kubeflow and metrics
Components, hooks made local) and applied to the suite's apiserver. kube-state-metrics
(scripts/build-tools.sh) runs out of cluster with the configuration as the apiserver
stores it in the Component's ConfigMap, with a token of the Component's ServiceAccount
(Cluster.kubeconfig_for), so that it reads with what the Component's ClusterRoleBinding
grants and nothing more. It is scraped while MPIJobs of mpifn.dev and kubeflow.org reach
each phase; every wait is on what a scrape or the apiserver shows, bounded.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from datetime import datetime

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from mpifn import manifests, metrics
from mpifn.lifecycle import FAILED, PENDING, RUNNING, SUCCEEDED, SUSPENDED
from testkit.cluster import REPO_ROOT, Cluster
from testkit.kwok import ANN_FAIL, ANN_HOLD
from testkit.manifests import operator_manifests
from testkit.server import free_port
from testkit.tools import tool_binary

from .jobs import MPIJOBS, TIMEOUT, hello, submit

pytestmark = [pytest.mark.e2e_k8s, pytest.mark.usefixtures("driver_report")]

READER = manifests.KUBE_STATE_METRICS
KUBEFLOW_MPIJOBS = "mpijobs.kubeflow.org"
METRICS_OBJECTS = manifests.generated_manifests()[manifests.COMPONENTS_DIR / manifests.METRICS / "metrics.yaml"]


# --------------------------------------------------------------------------- the install


@pytest.fixture(scope="module")
def install(k8s_cluster, operator, hook_proxy, mpijob_crd, tmp_path_factory):
    """metacontroller/base with the kubeflow and metrics Components applied (the
    CompositeControllers go to the driver); the kubeflow controller driven meanwhile."""
    folder = tmp_path_factory.mktemp("install")
    components = [manifests.COMPONENTS_DIR / name for name in ("kubeflow", manifests.METRICS)]
    kustomization = {
        "resources": [os.path.relpath(REPO_ROOT / manifests.BASE_DIR, folder)],
        "components": [os.path.relpath(REPO_ROOT / path, folder) for path in components],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    documents = [d for d in yaml.safe_load_all(operator_manifests(k8s_cluster, hook_proxy.base_url, folder)) if d]
    k8s_cluster.apply(*(d for d in documents if d["kind"] != "CompositeController"))
    controller = manifests.FOREIGN_APIS["kubeflow"][0]
    [kubeflow] = [d for d in documents if d["kind"] == "CompositeController" and d["metadata"]["name"] == controller]
    try:
        with operator.also(kubeflow, KUBEFLOW_MPIJOBS):
            yield
    finally:
        for each in METRICS_OBJECTS:
            meta = each["metadata"]
            where = ["-n", meta["namespace"]] if "namespace" in meta else []
            k8s_cluster.kubectl("delete", each["kind"].lower(), meta["name"], *where, "--ignore-not-found")


@pytest.fixture(scope="module")
def kube_state_metrics(k8s_cluster, install, tmp_path_factory) -> Iterator[str]:
    """The real kube-state-metrics on a free loopback port, stopped afterwards whatever
    happened; yields the URL of its /metrics."""
    folder = tmp_path_factory.mktemp("kube-state-metrics")
    stored = k8s_cluster.get("configmap", READER.name, READER.namespace)
    config = folder / "mpijobs.yaml"
    config.write_text(stored["data"][READER.config_key])
    # reads as the ServiceAccount the Component binds, with a token of it; kube-state-metrics'
    # own install makes that account (the Component only binds it), so the test does, and
    # binds it to nothing else
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": READER.service_account}}
    k8s_cluster.apply(account, namespace=READER.namespace)
    kubeconfig = k8s_cluster.kubeconfig_for(READER.namespace, READER.service_account, folder / "kubeconfig")
    port = free_port()
    argv = [
        str(tool_binary("kube-state-metrics")),
        f"--kubeconfig={kubeconfig}",
        "--custom-resource-state-only",
        f"--custom-resource-state-config-file={config}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--telemetry-host=127.0.0.1",
        f"--telemetry-port={free_port()}",
    ]
    process = k8s_cluster.spawn_extra("kube-state-metrics", argv)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        k8s_cluster.wait_for(lambda: scrape_or_none(url) is not None, "kube-state-metrics to serve /metrics")
        yield url
    finally:
        k8s_cluster.stop_extra(process)
        k8s_cluster.kubectl("delete", "serviceaccount", READER.service_account, "-n", READER.namespace)


# --------------------------------------------------------------------------- scraping


def scrape_or_none(url: str) -> dict[str, list[Sample]] | None:
    """Every sample of a scrape by series name, parsed by prometheus_client; None while
    nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def of_job(scraped: dict[str, list[Sample]], name: str, job: dict) -> list[Sample]:
    """The samples of series `name` that belong to `job`."""
    group = job["apiVersion"].split("/")[0]
    meta = job["metadata"]
    return [
        s
        for s in scraped.get(name, [])
        if (s.labels.get("customresource_group"), s.labels.get("namespace"), s.labels.get("mpijob"))
        == (group, meta["namespace"], meta["name"])
    ]


def timestamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def expected_series(job: dict) -> dict[str, set[tuple]]:
    """What a scrape should show of `job` as the apiserver has it now: per series, a set of
    the samples' labels beyond the job's own, sorted, with ("value", the sample's value)."""
    status = job.get("status", {})
    conditions = status.get("conditions", [])
    phase = status.get("phase")

    def one(value: float, **labels: str) -> tuple:
        return (*sorted(labels.items()), ("value", value))

    info = {"uid": job["metadata"]["uid"], "mpi_implementation": job["spec"].get("mpiImplementation")}
    expected: dict[str, set] = {
        "mpifn_mpijob_info": {one(1.0, **{k: v for k, v in info.items() if v is not None})},
        "mpifn_mpijob_created": {one(timestamp(job["metadata"]["creationTimestamp"]))},
        "mpifn_mpijob_status_phase": {one(float(p == phase), phase=p) for p in metrics.PHASES} if phase else set(),
        "mpifn_mpijob_status_reason_info": {one(1.0, phase=phase, reason=status["reason"])} if phase else set(),
        # no workers in the status of a job that never had a valid spec
        **{
            f"mpifn_mpijob_status_workers_{count}": {one(float(status["workers"][count]))}
            if "workers" in status
            else set()
            for count in ("desired", "ready")
        },
        "mpifn_mpijob_status_condition": {one(float(c["status"] == "True"), condition=c["type"]) for c in conditions},
        "mpifn_mpijob_status_condition_last_transition_time": {
            one(timestamp(c["lastTransitionTime"]), condition=c["type"], status=c["status"]) for c in conditions
        },
    }
    for field, name in (("startTime", "status_start_time"), ("completionTime", "status_completion_time")):
        expected[f"mpifn_mpijob_{name}"] = {one(timestamp(status[field]))} if field in status else set()
    return expected


def seen_series(scraped: dict[str, list[Sample]], job: dict) -> dict[str, set]:
    own = {"customresource_group", "customresource_version", "customresource_kind", "namespace", "mpijob"}
    return {
        name: {
            (*sorted((k, v) for k, v in s.labels.items() if k not in own), ("value", s.value))
            for s in of_job(scraped, name, job)
        }
        for name in metrics.series_names()
    }


def read_jobs(cluster: Cluster, namespace: str) -> list[dict]:
    return [job for resource in (MPIJOBS, KUBEFLOW_MPIJOBS) for job in cluster.get(resource, namespace=namespace)]


def scrape_matching(cluster: Cluster, url: str, namespace: str) -> tuple[dict[str, list[Sample]], list[dict]]:
    """A scrape that shows every MPIJob of the namespace as the apiserver has it at that
    moment (kube-state-metrics follows by watch: polled, bounded); with those jobs."""
    last: list[str] = []

    def matching():
        jobs = read_jobs(cluster, namespace)
        scraped = scrape_or_none(url) or {}
        last[:] = [
            f"{job['apiVersion']} {job['metadata']['name']} {name}: scraped {sorted(seen)}, "
            f"expected {sorted(expected_series(job)[name])}"
            for job in jobs
            for name, seen in seen_series(scraped, job).items()
            if seen != expected_series(job)[name]
        ]
        return (scraped, jobs) if not last and jobs == read_jobs(cluster, namespace) else None

    try:
        return cluster.wait_for(matching, f"a scrape of {url} to show the MPIJobs of {namespace}", timeout=TIMEOUT)
    except TimeoutError as error:
        raise AssertionError(f"{error}; differences: {last}") from error


# --------------------------------------------------------------------------- the jobs


def kubeflow_job(namespace: str, name: str, hold: bool) -> dict:
    """examples/kubeflow-v2beta1.yaml in `namespace`, its launcher held Running or let complete."""
    job = yaml.safe_load((REPO_ROOT / "examples" / "kubeflow-v2beta1.yaml").read_text())
    job["metadata"] = {"name": name, "namespace": namespace}
    if hold:
        launcher = job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]
        launcher.setdefault("metadata", {})["annotations"] = {ANN_HOLD: "true"}
    return job


def mpifn_jobs(namespace: str) -> dict[str, dict]:
    held = hello(namespace, replicas=2, launcher_annotations={ANN_HOLD: "true"})
    unplaced = hello(namespace, replicas=2)
    unplaced["spec"]["template"]["spec"]["nodeSelector"] = {"e2e.mpifn.test/no-such-node": "true"}
    jobs = {
        "done": hello(namespace, replicas=2),
        "broken": hello(namespace, replicas=2, launcher_annotations={ANN_FAIL: "true"}),
        "held": held,
        "unplaced": unplaced,
        "paused": hello(namespace, replicas=2, runPolicy={"suspend": True}),
        "invalid": hello(namespace, replicas=2, minReplicas=3),
    }
    for name, job in jobs.items():
        job["metadata"]["name"] = name
    return jobs


# (group, name) -> the phase it reaches and stays in
PHASES = {
    ("mpifn.dev", "done"): SUCCEEDED,
    ("mpifn.dev", "broken"): FAILED,
    ("mpifn.dev", "held"): RUNNING,
    ("mpifn.dev", "unplaced"): PENDING,
    ("mpifn.dev", "paused"): SUSPENDED,
    ("mpifn.dev", "invalid"): FAILED,
    ("kubeflow.org", "kf-done"): SUCCEEDED,
    ("kubeflow.org", "kf-held"): RUNNING,
}


def phases_reached(cluster: Cluster, namespace: str) -> bool:
    jobs = read_jobs(cluster, namespace)
    reached = {(j["apiVersion"].split("/")[0], j["metadata"]["name"]): j.get("status", {}).get("phase") for j in jobs}
    running = [j for j in jobs if j.get("status", {}).get("phase") == RUNNING]
    return reached == PHASES and all(j["status"]["workers"]["ready"] == 2 for j in running)


def total(scraped: dict[str, list[Sample]], name: str, **labels: str) -> float:
    """PromQL's sum(name{labels}) over the scrape."""
    return sum(s.value for s in scraped.get(name, []) if labels.items() <= s.labels.items())


# --------------------------------------------------------------------------- the tests


def test_every_phase_of_every_api_is_scraped(k8s_cluster, kube_state_metrics, namespace):
    cluster = k8s_cluster
    for job in mpifn_jobs(namespace).values():
        submit(cluster, job)
    cluster.apply(kubeflow_job(namespace, "kf-done", hold=False), kubeflow_job(namespace, "kf-held", hold=True))
    cluster.wait_for(lambda: phases_reached(cluster, namespace), f"the MPIJobs to reach {PHASES}", timeout=TIMEOUT)

    scraped, jobs = scrape_matching(cluster, kube_state_metrics, namespace)

    # One series per phase for each job, 1 for the phase the apiserver has.
    for job in jobs:
        key = (job["apiVersion"].split("/")[0], job["metadata"]["name"])
        phases = {s.labels["phase"]: s.value for s in of_job(scraped, "mpifn_mpijob_status_phase", job)}
        assert phases == {p: float(p == PHASES[key]) for p in metrics.PHASES}, key
        assert {s.labels["customresource_version"] for s in of_job(scraped, "mpifn_mpijob_info", job)} == {
            job["apiVersion"].split("/")[1]
        }
    byname = {job["metadata"]["name"]: job for job in jobs}
    [reason] = of_job(scraped, "mpifn_mpijob_status_reason_info", byname["invalid"])
    assert (reason.labels["phase"], reason.labels["reason"]) == (FAILED, "InvalidSpec")
    [ready] = of_job(scraped, "mpifn_mpijob_status_workers_ready", byname["kf-held"])
    [desired] = of_job(scraped, "mpifn_mpijob_status_workers_desired", byname["kf-held"])
    assert (ready.value, desired.value) == (2.0, 2.0)
    failed = [s for s in of_job(scraped, "mpifn_mpijob_status_condition_last_transition_time", byname["broken"])
              if (s.labels["condition"], s.labels["status"]) == ("Failed", "True")]  # fmt: skip
    [condition] = [c for c in byname["broken"]["status"]["conditions"] if c["type"] == "Failed"]
    assert [s.value for s in failed] == [timestamp(condition["lastTransitionTime"])]

    # Kubeflow's counters, as sums over the jobs there are: it counts neither a job with an
    # invalid spec as created nor, in jobs_failed_total, as failed (README, Metrics).
    mine = {"namespace": namespace}
    assert total(scraped, "mpifn_mpijob_status_condition", condition="Created", **mine) == len(PHASES) - 1
    assert total(scraped, "mpifn_mpijob_status_condition", condition="Succeeded", **mine) == 2
    assert total(scraped, "mpifn_mpijob_status_condition", condition="Failed", **mine) == 2
    invalid = total(scraped, "mpifn_mpijob_status_reason_info", phase=FAILED, reason="InvalidSpec", **mine)
    assert total(scraped, "mpifn_mpijob_status_condition", condition="Failed", **mine) - invalid == 1
    assert total(scraped, "mpifn_mpijob_info", **mine) == len(PHASES)


def test_a_deleted_job_takes_its_series_with_it(k8s_cluster, kube_state_metrics, namespace):
    """What a gauge over objects is not: a counter. Once a succeeded job is deleted, the sum
    of Succeeded drops, where Kubeflow's jobs_successful_total would have kept it."""
    cluster = k8s_cluster
    submit(cluster, mpifn_jobs(namespace)["done"])
    succeeded = {"condition": "Succeeded", "namespace": namespace}
    cluster.wait_for(
        lambda: total(scrape_or_none(kube_state_metrics) or {}, "mpifn_mpijob_status_condition", **succeeded) == 1,
        "a scrape with the job Succeeded",
        timeout=TIMEOUT,
    )
    cluster.kubectl("delete", MPIJOBS, "done", "-n", namespace, "--wait=true")

    def forgotten():
        scraped = scrape_or_none(kube_state_metrics)
        samples = [sample for samples in (scraped or {}).values() for sample in samples]
        return scraped is not None and not any(sample.labels.get("namespace") == namespace for sample in samples)

    cluster.wait_for(forgotten, "a scrape without the deleted job", timeout=TIMEOUT)
