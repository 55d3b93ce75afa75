"""A field the CRD does not declare, inside a pod template or not, is named by `mpifn render`
and by sync (as the API server's strict field validation names it), never copied into a child."""

import copy
import json
import subprocess
import sys
from datetime import timedelta

import pytest
import yaml

from mpifn.errors import InvalidSpec
from mpifn.spec import parse_job
from mpifn.validation import unknown_fields
from testkit import calls
from testkit.metacontroller import hook_request, with_status
from tests.conftest import EXAMPLES, FIXTURES, ROOT, load_yaml
from tests.test_hooks import T0, settle

COMAND = 'unknown field "spec.template.spec.containers[0].comand"'


def with_typo(template: dict) -> dict:
    """`comand:` for `command:` in the first container."""
    container = template["spec"]["containers"][0]
    container["comand"] = container.pop("command", ["mpirun", "hostname"])
    return template


def kubeflow() -> dict:
    return load_yaml(FIXTURES / "kubeflow-pi.yaml")


def problems_of(parent: dict, settings) -> list[str]:
    with pytest.raises(InvalidSpec) as raised:
        parse_job(parent, settings)
    return raised.value.problems


def test_a_typo_in_the_template_is_named(hello, settings):
    with_typo(hello["spec"]["template"])
    assert problems_of(hello, settings) == [COMAND]


def test_a_typo_in_a_role_template_or_its_metadata_is_named(hello, settings):
    hello["spec"]["launcher"] = {"template": with_typo(copy.deepcopy(hello["spec"]["template"]))}
    hello["spec"]["worker"] = {"template": copy.deepcopy(hello["spec"]["template"])}
    hello["spec"]["worker"]["template"]["metadata"] = {"lables": {"team": "hpc"}}
    hello["spec"]["worker"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "valu": "1"}]
    assert problems_of(hello, settings) == [
        'unknown field "spec.launcher.template.spec.containers[0].comand"',
        'unknown field "spec.worker.template.metadata.lables"',
        'unknown field "spec.worker.template.spec.containers[0].env[0].valu"',
    ]


def test_a_typo_outside_the_templates_is_named(hello, settings):
    hello["spec"]["slotPerWorker"] = hello["spec"].pop("slotsPerWorker")
    assert problems_of(hello, settings) == ['unknown field "spec.slotPerWorker"']


@pytest.mark.parametrize("name", ["seed-replicas-original-api.yaml", "seed-daemons-original-api.yaml"])
def test_a_typo_in_a_seed_job_is_named(name, settings):
    parent = load_yaml(FIXTURES / name)
    with_typo(parent["spec"]["template"])
    assert problems_of(parent, settings) == [COMAND]


def test_a_typo_in_a_kubeflow_job_is_named(settings):
    parent = kubeflow()
    with_typo(parent["spec"]["mpiReplicaSpecs"]["Worker"]["template"])
    parent["spec"]["slotPerWorker"] = 1
    assert problems_of(parent, settings) == [
        'unknown field "spec.mpiReplicaSpecs.Worker.template.spec.containers[0].comand"',
        'unknown field "spec.slotPerWorker"',
    ]


def test_every_field_of_a_pod_template_is_known(hello, settings):
    """Fields from all over PodSpec, valid as written: nothing named, nothing refused."""
    pod = hello["spec"]["template"]["spec"]
    container = pod["containers"][0]
    container.update(
        {
            "imagePullPolicy": "IfNotPresent",
            "resources": {"limits": {"cpu": 0.5, "memory": "1Gi"}, "requests": {"cpu": "250m"}},
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
            "securityContext": {"runAsUser": 1000, "capabilities": {"drop": ["ALL"]}},
            "env": [{"name": "RANK", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        }
    )
    pod.update(
        {
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "hpc", "operator": "Exists", "effect": "NoSchedule"}],
            "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}],
            "priorityClassName": "high",
        }
    )
    hello["spec"]["template"]["metadata"] = {"labels": {"team": "hpc"}, "annotations": {"a": "b"}}
    assert parse_job(hello, settings).launcher_template == hello["spec"]["template"]


def test_a_new_job_with_a_typo_fails_with_invalid_spec_and_gets_no_child(hello):
    with_typo(hello["spec"]["template"])
    response = calls.sync(hook_request(hello), now=T0)
    status = response["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec")
    assert status["message"] == f"invalid spec: {COMAND}"
    assert response["children"] == []


def test_a_typo_in_a_job_that_ran_is_spec_invalid_and_never_reaches_a_child(hello):
    parent, observed, first = settle(hello)
    observed = with_status(observed, "Job", {"active": 1})
    running = calls.sync(hook_request(parent, observed), now=T0)["status"]
    edited = copy.deepcopy({**parent, "status": running})
    with_typo(edited["spec"]["template"])
    response = calls.sync(hook_request(edited, observed), now=T0 + timedelta(minutes=1))
    status = response["status"]
    assert (status["phase"], status["reason"]) == (running["phase"], "SpecInvalid")
    assert COMAND in status["message"]
    assert response["children"] == first["children"]
    assert "comand" not in json.dumps(response["children"])


def test_a_typo_in_a_kubeflow_job_is_its_status():
    parent = kubeflow()
    with_typo(parent["spec"]["mpiReplicaSpecs"]["Launcher"]["template"])
    response = calls.sync(hook_request(parent), now=T0)
    assert response["status"]["message"] == (
        'invalid spec: unknown field "spec.mpiReplicaSpecs.Launcher.template.spec.containers[0].comand"'
    )
    assert response["children"] == []


def run_render(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mpifn", "render", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


@pytest.mark.parametrize(
    ("example", "where"),
    [
        ("hello.yaml", ("template",)),
        ("per-role-templates.yaml", ("worker", "template")),
        ("kubeflow-v2beta1.yaml", ("mpiReplicaSpecs", "Launcher", "template")),
        ("seed-v1.yaml", ("template",)),
    ],
)
def test_render_names_a_typo_in_a_template_once_and_exits_non_zero(tmp_path, example, where):
    job = load_yaml(EXAMPLES / example)
    template = job["spec"]
    for name in where:
        template = template[name]
    with_typo(template)
    path = tmp_path / example
    path.write_text(yaml.safe_dump(job))
    result = run_render(path)
    assert result.returncode == 1
    assert result.stdout == ""
    field = f"spec.{'.'.join(where)}.spec.containers[0].comand"
    assert result.stderr.splitlines() == [
        f'mpifn render: {path}: document 1 ({job["metadata"]["name"]}): unknown field "{field}"'
    ]


def test_unknown_fields_are_looked_for_in_the_values_of_a_map():
    schema = {
        "type": "object",
        "properties": {
            "byName": {
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"size": {"type": "integer"}}},
            }
        },
    }
    value = {"byName": {"a": {"size": 1}, "b": {"sise": 2}}}
    assert unknown_fields(schema, value, "spec") == ['unknown field "spec.byName.b.sise"']
