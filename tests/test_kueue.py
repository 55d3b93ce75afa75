"""What Kueue's MPIJob integration (kubeflow.org/mpijob, Kueue v0.17.0) expects of the
controller of a kubeflow.org MPIJob: suspension, ResourceFlavor placement that reaches the
pods (including a launcher Job created while suspended), eviction, replicaStatuses,
runPolicy.managedBy and Kubeflow's pod labels. Kueue itself is the e2e suite's."""

import copy
from datetime import timedelta

import pytest

from mpifn import api
from mpifn.children.launcher import JOB_CONTROLLER_LABELS
from mpifn.errors import InvalidSpec
from mpifn.spec import parse_job
from testkit import calls
from testkit.metacontroller import LAST_APPLIED, as_observed, hook_request
from tests.conftest import FIXTURES, load_yaml
from tests.test_hooks import T0

QUEUE = "team-a"
# What Kueue's podset.Merge writes into both templates on admission (a flavor's node labels and
# tolerations, its own labels, annotations and TAS scheduling gate).
FLAVOR = {
    "labels": {"kueue.x-k8s.io/podset": "launcher"},
    "annotations": {"kueue.x-k8s.io/workload": "pi-1234"},
    "nodeSelector": {"pool": "a100"},
    "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "schedulingGates": [{"name": "kueue.x-k8s.io/topology"}],
}
OTHER_FLAVOR = {**FLAVOR, "nodeSelector": {"pool": "h100"}, "schedulingGates": None}


def kubeflow_job(suspend: bool = True, queue: str | None = QUEUE) -> dict:
    """The Kubeflow pi job as Kueue's webhook leaves it: labelled for a queue, suspended."""
    job = load_yaml(FIXTURES / "kubeflow-pi.yaml")
    job["metadata"]["namespace"] = "default"
    if queue:
        job["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": queue}
    job["spec"]["runPolicy"]["suspend"] = suspend
    return job


def place(job: dict, flavor: dict | None) -> dict:
    """`job` with Kueue's admission (`flavor`) merged into both templates, or with them
    restored (`flavor` None) and suspend set as Kueue does on eviction."""
    placed = copy.deepcopy(job)
    original = kubeflow_job()
    for role, replica in placed["spec"]["mpiReplicaSpecs"].items():
        template = copy.deepcopy(original["spec"]["mpiReplicaSpecs"][role]["template"])
        for field, value in (flavor or {}).items():
            section = template.setdefault("metadata", {}) if field in ("labels", "annotations") else template["spec"]
            if value is not None:
                section[field] = value
        replica["template"] = template
    placed["spec"]["runPolicy"]["suspend"] = flavor is None
    return placed


def placed_while_suspended(flavor: dict) -> dict:
    """A job admitted on `flavor` and suspended again before its launcher ran."""
    job = place(kubeflow_job(), flavor)
    job["spec"]["runPolicy"]["suspend"] = True
    return job


def sync(parent: dict, observed: list[dict] | None = None, minutes: int = 0) -> dict:
    return calls.sync(hook_request(parent, observed or []), now=T0 + timedelta(minutes=minutes))


def by_kind(response: dict) -> dict[str, dict]:
    return {child["kind"]: child for child in response["children"]}


def observe(children: list[dict], **statuses: dict) -> list[dict]:
    """The children as stored, each kind given its status (Job=..., StatefulSet=...)."""
    stored = as_observed(children)
    for child in stored:
        if child["kind"] in statuses:
            child["status"] = statuses[child["kind"]]
    return stored


def unplaced(kind: str) -> dict:
    """The pod template of the child of `kind` as the job asks for it before any admission."""
    return by_kind(sync(kubeflow_job()))[kind]["spec"]["template"]


def with_directives(template: dict, flavor: dict) -> dict:
    """`template` with Kueue's directives on top of its own (labels and annotations merged)."""
    expected = copy.deepcopy(template)
    metadata = expected.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        metadata[field] = {**metadata.get(field, {}), **flavor[field]}
    for field in ("nodeSelector", "tolerations", "schedulingGates"):
        expected["spec"].pop(field, None)
        if flavor[field] is not None:
            expected["spec"][field] = flavor[field]
    return expected


SUSPENDED_JOB_STATUS = {"active": 0, "conditions": [{"type": "Suspended", "status": "True"}]}
NO_COUNTS = {"active": 0, "succeeded": 0, "failed": 0}


# ---------------------------------------------------------------- labels and priority


def test_pods_of_a_kubeflow_job_carry_kubeflow_labels_and_selectors_stay_ours():
    children = by_kind(sync(kubeflow_job(suspend=False)))
    kubeflow = {"training.kubeflow.org/job-name": "pi", "training.kubeflow.org/operator-name": "mpi-operator"}
    ours = {"mpifn.dev/job-name": "pi"}
    assert children["Job"]["spec"]["template"]["metadata"]["labels"] == {
        **ours,
        "mpifn.dev/role": "launcher",
        **kubeflow,
        "training.kubeflow.org/job-role": "launcher",
    }
    workers = children["StatefulSet"]["spec"]
    assert workers["template"]["metadata"]["labels"] == {
        **ours,
        "mpifn.dev/role": "worker",
        **kubeflow,
        "training.kubeflow.org/job-role": "worker",
    }
    assert workers["selector"] == {"matchLabels": {**ours, "mpifn.dev/role": "worker"}}
    assert children["Service"]["spec"]["selector"] == {**ours, "mpifn.dev/role": "worker"}


def test_pods_of_an_mpifn_job_carry_only_mpifn_labels(hello):
    children = by_kind(sync(hello))
    assert children["Job"]["spec"]["template"]["metadata"]["labels"] == {
        "mpifn.dev/job-name": "hello",
        "mpifn.dev/role": "launcher",
    }
    assert children["StatefulSet"]["spec"]["template"]["metadata"]["labels"] == {
        "mpifn.dev/job-name": "hello",
        "mpifn.dev/role": "worker",
    }


def test_priority_class_names_of_the_templates_reach_the_pods():
    job = kubeflow_job(suspend=False)
    for role, name in (("Launcher", "launcher-priority"), ("Worker", "worker-priority")):
        job["spec"]["mpiReplicaSpecs"][role]["template"]["spec"]["priorityClassName"] = name
    children = by_kind(sync(job))
    assert children["Job"]["spec"]["template"]["spec"]["priorityClassName"] == "launcher-priority"
    assert children["StatefulSet"]["spec"]["template"]["spec"]["priorityClassName"] == "worker-priority"


# ---------------------------------------------------------------- suspension and admission


def test_a_job_waiting_for_admission_runs_no_pod_and_says_which_queue():
    response = sync(kubeflow_job())
    children = by_kind(response)
    assert children["StatefulSet"]["spec"]["replicas"] == 0
    assert children["Job"]["spec"]["suspend"] is True
    status = response["status"]
    assert (status["phase"], status["reason"], status["message"]) == (
        "Suspended",
        "Suspended",
        "suspended: waiting for admission by Kueue (queue team-a); see `kubectl get workloads -n default`",
    )
    assert status["replicaStatuses"] == {"Launcher": NO_COUNTS, "Worker": NO_COUNTS}
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert (conditions["Suspended"], conditions["Running"], conditions["Succeeded"]) == ("True", "False", "False")


def test_a_suspended_job_without_a_queue_label_says_only_that_it_is_suspended():
    status = sync(kubeflow_job(queue=None))["status"]
    assert (status["reason"], status["message"]) == ("Suspended", "suspended: no worker pods, launcher Job suspended")


def test_a_queue_label_on_an_mpifn_job_changes_nothing(hello):
    """Kueue does not manage mpifn.dev MPIJobs: nothing waits for it to admit one."""
    hello["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": QUEUE}
    hello["spec"]["runPolicy"] = {"suspend": True}
    status = sync(hello)["status"]
    assert (status["reason"], status["message"]) == ("Suspended", "suspended: no worker pods, launcher Job suspended")


def test_admission_puts_the_flavor_on_the_launcher_job_created_while_suspended():
    waiting = kubeflow_job()
    first = sync(waiting)
    created = by_kind(first)["Job"]
    observed = observe(first["children"], Job=SUSPENDED_JOB_STATUS)
    admitted = {**place(waiting, FLAVOR), "status": first["status"]}
    response = sync(admitted, observed, minutes=1)
    children = by_kind(response)
    launcher = children["Job"]
    assert launcher["spec"]["suspend"] is False
    # Only the scheduling directives change (Kubernetes refuses any other change to a Job's
    # template): the rest, the probe signature included, is the template of the Job created.
    assert launcher["spec"]["template"] == with_directives(created["spec"]["template"], FLAVOR)
    workers = children["StatefulSet"]["spec"]
    assert workers["replicas"] == 2
    assert workers["template"] == with_directives(by_kind(first)["StatefulSet"]["spec"]["template"], FLAVOR)
    assert response["status"]["phase"] == "Pending"


def stored_server_side(children: list[dict], fingerprint: bool, **statuses: dict) -> list[dict]:
    """The children as a server-side apply leaves them: no last-applied copy, the launcher's
    template with the labels the API server adds, and its fingerprint (or, made by another
    version, one that rendering the template again does not match)."""
    stored = observe(children, **statuses)
    for child in stored:
        child["metadata"]["annotations"].pop(LAST_APPLIED)
        if child["kind"] == "Job":
            if not fingerprint:
                child["metadata"]["annotations"][api.LAUNCHER_TEMPLATE_ANNOTATION] = "made-by-another-version"
            labels = child["spec"]["template"]["metadata"]["labels"]
            labels.update({label: "uid-of-the-job" for label in JOB_CONTROLLER_LABELS})
    return stored


@pytest.mark.parametrize("fingerprint", [True, False], ids=["fingerprint", "other-version"])
def test_admission_keeps_the_labels_the_api_server_put_in_the_launcher_template(fingerprint):
    waiting = kubeflow_job()
    first = sync(waiting)
    made = by_kind(first)["Job"]["spec"]["template"]
    observed = stored_server_side(first["children"], fingerprint, Job=SUSPENDED_JOB_STATUS)
    stored = by_kind({"children": observed})["Job"]["spec"]["template"]
    asked_again = by_kind(sync({**waiting, "status": first["status"]}, observed, minutes=1))["Job"]
    # As it was made when the fingerprint says rendering it again gives it back, else as stored:
    # the API server's labels are no directive.
    assert asked_again["spec"]["template"] == (made if fingerprint else stored)
    admitted = {**place(waiting, FLAVOR), "status": first["status"]}
    launcher = by_kind(sync(admitted, observed, minutes=1))["Job"]
    expected = with_directives(made if fingerprint else stored, FLAVOR)
    expected["metadata"]["labels"].update({label: "uid-of-the-job" for label in JOB_CONTROLLER_LABELS})
    assert launcher["spec"]["template"] == expected


def test_a_launcher_job_that_never_ran_follows_the_spec_while_suspended():
    """Kueue restores the templates on eviction before a launcher Job ever ran."""
    first = sync(placed_while_suspended(FLAVOR))
    observed = observe(first["children"], Job=SUSPENDED_JOB_STATUS)
    restored = {**place(kubeflow_job(), None), "status": first["status"]}
    launcher = by_kind(sync(restored, observed, minutes=1))["Job"]
    assert launcher["spec"]["suspend"] is True
    assert launcher["spec"]["template"] == unplaced("Job")


def test_a_suspended_launcher_job_asked_for_again_is_asked_for_unchanged():
    """Metacontroller updates a child whenever the answer differs: steady answers are equal."""
    first = sync(placed_while_suspended(FLAVOR))
    observed = observe(first["children"], Job=SUSPENDED_JOB_STATUS)
    again = sync({**placed_while_suspended(FLAVOR), "status": first["status"]}, observed)
    assert again["children"] == first["children"]


def test_a_launcher_job_with_pods_left_keeps_its_template():
    """Kubernetes lets a suspended Job's template change only once its pods are gone."""
    first = sync(placed_while_suspended(FLAVOR))
    observed = observe(first["children"], Job={"active": 0, "terminating": 1})
    restored = {**place(kubeflow_job(), None), "status": first["status"]}
    launcher = by_kind(sync(restored, observed, minutes=1))["Job"]
    assert launcher["spec"]["template"] == by_kind(first)["Job"]["spec"]["template"]


def test_an_admitted_job_whose_launcher_job_still_has_pods_keeps_it_suspended():
    """Its pods must go before its template can change: it does not run with the old one."""
    first = sync(placed_while_suspended(FLAVOR))
    observed = observe(first["children"], Job={"active": 0, "terminating": 1})
    admitted = {**place(kubeflow_job(), OTHER_FLAVOR), "status": first["status"]}
    response = sync(admitted, observed, minutes=1)
    launcher = by_kind(response)["Job"]
    assert launcher["spec"]["suspend"] is True
    assert launcher["spec"]["template"] == by_kind(first)["Job"]["spec"]["template"]
    assert by_kind(response)["StatefulSet"]["spec"]["replicas"] == 2
    assert response["status"]["phase"] == "Pending"


def running(flavor: dict) -> tuple[dict, list[dict], dict]:
    """An admitted job on `flavor`, its launcher and workers running: (parent, observed, children)."""
    admitted = place(kubeflow_job(), flavor)
    first = sync(admitted)
    observed = observe(
        first["children"],
        Job={"active": 1, "ready": 1, "startTime": "2026-11-28T12:00:00Z"},
        StatefulSet={"replicas": 2, "readyReplicas": 2},
    )
    status = sync({**admitted, "status": first["status"]}, observed)["status"]
    assert status["phase"] == "Running"
    return {**admitted, "status": status}, observed, by_kind(first)


def test_eviction_stops_every_pod_and_says_kueue_evicted_it():
    parent, observed, children = running(FLAVOR)
    evicted = {**place(parent, None), "status": parent["status"]}
    response = sync(evicted, observed, minutes=5)
    stopping = by_kind(response)
    assert stopping["StatefulSet"]["spec"]["replicas"] == 0
    assert stopping["StatefulSet"]["spec"]["template"] == unplaced("StatefulSet")
    # The launcher Job runs: it is suspended (its pod goes), its template cannot change yet.
    assert stopping["Job"]["spec"]["suspend"] is True
    assert stopping["Job"]["spec"]["template"] == children["Job"]["spec"]["template"]
    status = response["status"]
    assert (status["phase"], status["reason"]) == ("Suspended", "EvictedByKueue")
    assert status["message"] == (
        "suspended after Kueue admitted it (queue team-a): Kueue evicted it, for example preempted by a job of "
        "higher priority or its pods not ready in time; the Workload's Evicted condition says which "
        "(`kubectl get workloads -n default`); it runs again once Kueue admits it again"
    )
    # Still active for Kueue until the pods are gone.
    assert status["replicaStatuses"] == {
        "Launcher": {"active": 1, "succeeded": 0, "failed": 0},
        "Worker": {"active": 2, "succeeded": 0, "failed": 0},
    }
    gone = observe(
        response["children"], Job={**SUSPENDED_JOB_STATUS, "startTime": "2026-11-28T12:00:00Z"}, StatefulSet={}
    )
    later = sync({**evicted, "status": status}, gone, minutes=6)["status"]
    assert later["reason"] == "EvictedByKueue"
    assert later["replicaStatuses"] == {"Launcher": NO_COUNTS, "Worker": NO_COUNTS}


def test_after_eviction_a_launcher_job_whose_start_kubernetes_forgot_follows_the_spec():
    """Kubernetes 1.36 clears a Job's startTime when it is suspended: its directives may change."""
    parent, observed, children = running(FLAVOR)
    evicted = {**place(parent, None), "status": parent["status"]}
    stopped = observe(sync(evicted, observed, minutes=5)["children"], Job=SUSPENDED_JOB_STATUS)
    readmitted = {**place(parent, OTHER_FLAVOR), "status": parent["status"]}
    launcher = by_kind(sync(readmitted, stopped, minutes=7))["Job"]
    assert launcher["spec"]["suspend"] is False
    assert launcher["spec"]["template"] == with_directives(children["Job"]["spec"]["template"], OTHER_FLAVOR)


def test_after_eviction_a_launcher_job_that_started_is_replaced_by_one_with_the_new_directives():
    """Before 1.36 a Job that started keeps its template: it goes, and comes back as asked."""
    parent, observed, _ = running(FLAVOR)
    evicted = {**place(parent, None), "status": parent["status"]}
    started = {**SUSPENDED_JOB_STATUS, "startTime": "2026-11-28T12:00:00Z"}
    stopped = observe(sync(evicted, observed, minutes=5)["children"], Job=started)
    response = sync(evicted, stopped, minutes=6)
    assert "Job" not in by_kind(response)
    without = [child for child in stopped if child["kind"] != "Job"]
    again = by_kind(sync({**evicted, "status": response["status"]}, without, minutes=7))["Job"]
    assert again["spec"]["suspend"] is True
    assert again["spec"]["template"] == unplaced("Job")


def test_a_started_launcher_job_asking_for_the_same_directives_is_kept():
    parent, observed, _ = running(FLAVOR)
    suspended = copy.deepcopy(parent)
    suspended["spec"]["runPolicy"]["suspend"] = True  # by hand: the templates stay placed
    started = {**SUSPENDED_JOB_STATUS, "startTime": "2026-11-28T12:00:00Z"}
    stopped = observe(sync(suspended, observed, minutes=5)["children"], Job=started)
    assert by_kind(sync(suspended, stopped, minutes=6))["Job"]["spec"]["suspend"] is True


def test_the_launcher_job_of_a_finished_job_is_never_replaced():
    parent, _, children = running(FLAVOR)
    done = {"succeeded": 1, "startTime": "2026-11-28T12:00:00Z", "conditions": [{"type": "Complete", "status": "True"}]}
    finished = sync(parent, observe(list(children.values()), Job=done), minutes=3)
    assert finished["status"]["phase"] == "Succeeded"
    evicted = {**place(parent, None), "status": finished["status"]}
    stored = observe(finished["children"], Job={**done, "conditions": [{"type": "Complete", "status": "True"}]})
    stored[[c["kind"] for c in stored].index("Job")]["spec"]["suspend"] = True
    assert (
        by_kind(sync(evicted, stored, minutes=3))["Job"]["spec"]["template"]
        == by_kind(finished)["Job"]["spec"]["template"]
    )


# ---------------------------------------------------------------- replicaStatuses


@pytest.mark.parametrize(
    ("job_status", "workers", "phase", "launcher_counts", "worker_active", "true_conditions"),
    [
        ({}, {"replicas": 2, "readyReplicas": 0}, "Pending", NO_COUNTS, 2, {"Created"}),
        (
            {"active": 1, "ready": 1},
            {"replicas": 2, "readyReplicas": 2},
            "Running",
            {"active": 1, "succeeded": 0, "failed": 0},
            2,
            {"Created", "WorkersReady", "Running"},
        ),
        (
            {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
            {"replicas": 1, "readyReplicas": 1},
            "Succeeded",
            {"active": 0, "succeeded": 1, "failed": 0},
            1,
            {"Created", "Succeeded"},
        ),
        (
            {"failed": 1, "terminating": 1, "conditions": [{"type": "Failed", "status": "True"}]},
            {"replicas": 0},
            "Failed",
            {"active": 1, "succeeded": 0, "failed": 1},
            0,
            {"Created", "Failed"},
        ),
    ],
)
def test_replica_statuses_and_conditions_per_phase(
    job_status, workers, phase, launcher_counts, worker_active, true_conditions
):
    job = kubeflow_job(suspend=False)
    first = sync(job)
    observed = observe(first["children"], Job=job_status, StatefulSet=workers)
    status = sync({**job, "status": first["status"]}, observed, minutes=1)["status"]
    assert status["phase"] == phase
    assert status["replicaStatuses"] == {
        "Launcher": launcher_counts,
        "Worker": {"active": worker_active, "succeeded": 0, "failed": 0},
    }
    assert {c["type"] for c in status["conditions"] if c["status"] == "True"} == true_conditions


# ---------------------------------------------------------------- managedBy


MULTIKUEUE_STATUS = {
    "conditions": [{"type": "Running", "status": "True", "reason": "MPIJobRunning", "message": "copied"}],
    "replicaStatuses": {"Launcher": {"active": 1}, "Worker": {"active": 2}},
    "startTime": "2026-11-28T11:00:00Z",
}


@pytest.mark.parametrize("finalizing", [False, True])
def test_a_job_managed_by_another_controller_gets_no_child_and_its_status_as_it_is(finalizing):
    job = kubeflow_job(suspend=False)
    job["spec"]["runPolicy"]["managedBy"] = "kueue.x-k8s.io/multikueue"
    job["status"] = copy.deepcopy(MULTIKUEUE_STATUS)
    ours = sync(kubeflow_job(suspend=False))["children"]
    response = calls.sync(hook_request(job, as_observed(ours), finalizing=finalizing), now=T0)
    expected = {"status": MULTIKUEUE_STATUS, "children": []}
    assert response == ({**expected, "finalized": True} if finalizing else expected)


def test_a_job_managed_elsewhere_is_left_alone_even_with_a_spec_mpifn_refuses():
    job = kubeflow_job(suspend=False)
    job["spec"]["runPolicy"]["managedBy"] = "example.com/other"
    job["spec"]["runLauncherAsWorker"] = True
    assert sync(job) == {"status": {}, "children": []}


def test_the_mpifn_api_has_no_managed_by(hello, settings):
    hello["spec"]["runPolicy"] = {"managedBy": "kueue.x-k8s.io/multikueue"}
    with pytest.raises(InvalidSpec) as raised:
        parse_job(hello, settings)
    assert raised.value.problems == ['unknown field "spec.runPolicy.managedBy"']
