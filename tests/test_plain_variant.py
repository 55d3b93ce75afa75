"""plain/: the functions as Deployments + Services, kept in step with stack.yml."""

import re

import kubernetes_validate
import yaml

from tests.conftest import ROOT
from tests.support.kubernetes import KUBERNETES_VERSION
from tests.support.pod_security import restricted_problems

PROBE_URL = "http://probe.mpifn.svc.cluster.local:8080"
DEFAULTED = re.compile(r"\$\{[A-Z_]+:-([^}]*)\}")  # faas-cli's ${REGISTRY:-docker.io/mpifn}


def with_defaults(value: object) -> str:
    """A stack.yml value as faas-cli reads it with no REGISTRY or TAG set."""
    return DEFAULTED.sub(r"\1", str(value))


def _plain() -> dict[tuple[str, str], dict]:
    documents = yaml.safe_load_all((ROOT / "plain" / "functions.yaml").read_text())
    return {(d["kind"], d["metadata"]["name"]): d for d in documents if d}


def _stack_functions() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "stack.yml").read_text())["functions"]


def test_every_object_is_valid_kubernetes():
    for document in _plain().values():
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_kustomization_applies_the_functions():
    kustomization = yaml.safe_load((ROOT / "plain" / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["functions.yaml"]


def test_one_deployment_and_service_per_stack_function_with_the_same_settings():
    plain = _plain()
    functions = _stack_functions()
    assert {name for kind, name in plain if kind == "Deployment"} == set(functions)
    assert {name for kind, name in plain if kind == "Service"} == set(functions)
    for name, function in functions.items():
        deployment = plain[("Deployment", name)]
        assert deployment["metadata"]["namespace"] == "mpifn"
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == with_defaults(function["image"]), name
        env = {e["name"]: e["value"] for e in container["env"]}
        expected = {k: with_defaults(v) for k, v in function["environment"].items()}
        # the one difference: the probe is reached through its Service, not a gateway
        expected["MPIFN_PROBE_URL"] = PROBE_URL
        assert env == expected, f"plain/functions.yaml {name}: environment differs from stack.yml"
        assert container["ports"] == [{"name": "http", "containerPort": 8080}]
        service = plain[("Service", name)]
        assert service["metadata"]["namespace"] == "mpifn"
        assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http"}]
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_function_pods_meet_pod_security_restricted():
    for (kind, name), deployment in _plain().items():
        if kind == "Deployment":
            assert restricted_problems(deployment["spec"]["template"]["spec"]) == [], name
