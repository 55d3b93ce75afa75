"""Parsing and validating MPIJobs: defaults, seed spellings, and errors that name the field."""

import pytest

from mpifn import naming
from mpifn.errors import InvalidSpec, RequestError
from mpifn.settings import Settings
from mpifn.spec import parse_job
from tests.conftest import FIXTURES, load_yaml


def test_defaults_follow_the_api(hello, settings):
    hello["spec"] = {"replicas": 3, "template": hello["spec"]["template"]}
    job = parse_job(hello, settings)
    assert (job.replicas, job.min_replicas, job.slots, job.ssh_port) == (3, 3, 1, 2222)
    assert (job.daemons, job.mpi_implementation) == (False, "OpenMPI")
    assert job.run_policy.clean_pod_policy == "Running"
    assert job.run_policy.backoff_limit == 0


def test_daemons_need_one_worker_by_default(hello, settings):
    hello["spec"]["daemons"] = True
    assert parse_job(hello, settings).min_replicas == 1


@pytest.mark.parametrize("name", ["seed-replicas.yaml", "seed-daemons.yaml"])
def test_seed_examples_parse(name, settings):
    job = parse_job(load_yaml(FIXTURES / name), settings)
    assert job.replicas == 3
    assert job.daemons is (name == "seed-daemons.yaml")
    assert job.launcher_template["spec"]["containers"][0]["command"] == ["mpiexec"]


def test_seed_spellings_are_accepted(hello, settings):
    hello["spec"].pop("slotsPerWorker")
    hello["spec"].update({"slots": 4, "daemon": True})
    job = parse_job(hello, settings)
    assert (job.slots, job.daemons) == (4, True)


def test_contradicting_spellings_are_rejected(hello, settings):
    hello["spec"]["slots"] = 3
    with pytest.raises(InvalidSpec) as raised:
        parse_job(hello, settings)
    assert raised.value.problems == ["spec.slotsPerWorker: 2 contradicts spec.slots: 3; keep one of them"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("replicas", "two", 'spec.replicas: must be an integer >= 1, got "two"'),
        ("replicas", 0, "spec.replicas: must be >= 1, got 0"),
        ("replicas", 2.0, "spec.replicas: must be an integer >= 1, got 2.0"),
        ("slotsPerWorker", True, "spec.slotsPerWorker: must be an integer >= 1, got true"),
        ("sshPort", 70000, "spec.sshPort: must be <= 65535, got 70000"),
        ("mpiImplementation", "LAM", 'spec.mpiImplementation: must be one of OpenMPI, MPICH, IntelMPI, got "LAM"'),
        ("minReplicas", 5, "spec.minReplicas: must be at most spec.replicas (2), got 5"),
    ],
)
def test_each_bad_field_is_named(hello, settings, field, value, message):
    hello["spec"][field] = value
    with pytest.raises(InvalidSpec) as raised:
        parse_job(hello, settings)
    assert raised.value.problems == [message]


def test_every_problem_is_reported_at_once(hello, settings):
    hello["spec"].update({"replicas": "two", "sshPort": 0})
    hello["spec"].pop("template")
    with pytest.raises(InvalidSpec) as raised:
        parse_job(hello, settings)
    assert raised.value.problems == [
        'spec.replicas: must be an integer >= 1, got "two"',
        "spec.sshPort: must be >= 1, got 0",
    ]


def test_missing_template_is_explained(hello, settings):
    hello["spec"].pop("template")
    with pytest.raises(InvalidSpec) as raised:
        parse_job(hello, settings)
    assert "spec.template: required (a pod template whose first container runs mpirun)" in str(raised.value)


def test_template_without_containers(hello, settings):
    hello["spec"]["template"] = {"spec": {"containers": []}}
    with pytest.raises(InvalidSpec) as raised:
        parse_job(hello, settings)
    assert raised.value.problems == ["spec.template.spec.containers: must be a non-empty list of containers"]


def test_replicas_over_the_operator_limit(hello):
    hello["spec"]["replicas"] = 9
    with pytest.raises(InvalidSpec) as raised:
        parse_job(hello, Settings(max_replicas=8))
    assert raised.value.problems == ["spec.replicas: must be at most 8 (the operator's MPIFN_MAX_REPLICAS), got 9"]


def test_job_name_that_breaks_a_child_name_limit(hello, settings):
    hello["metadata"]["name"] = "a" * (naming.MAX_JOB_NAME + 1)
    with pytest.raises(InvalidSpec) as raised:
        parse_job(hello, settings)
    assert f"metadata.name: must be at most {naming.MAX_JOB_NAME} characters" in raised.value.problems[0]
    assert "63-character label limit" in raised.value.problems[0]


def test_job_name_must_start_with_a_letter(hello, settings):
    hello["metadata"]["name"] = "1job"
    with pytest.raises(InvalidSpec, match="DNS-1035 label"):
        parse_job(hello, settings)


def test_unknown_api_is_a_request_error(hello, settings):
    hello["apiVersion"] = "example.com/v1"
    with pytest.raises(RequestError, match="expected kind MPIJob"):
        parse_job(hello, settings)
