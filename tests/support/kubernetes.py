"""Checks a Kubernetes API server would make: schema (strict) and name rules."""

from typing import Any

import kubernetes_validate

from mpifn import naming

KUBERNETES_VERSION = kubernetes_validate.latest_version()


def validate_strict(child: dict[str, Any]) -> None:
    """Raises kubernetes_validate.ValidationError for any unknown or mistyped field."""
    with_namespace = {**child, "metadata": {"namespace": "default", **child["metadata"]}}
    kubernetes_validate.validate(with_namespace, KUBERNETES_VERSION, strict=True)


def name_rule_problems(child: dict[str, Any], replicas: int) -> list[str]:
    """Kubernetes name rules for a child and the objects its controller will derive from it."""
    problems = []
    name = child["metadata"]["name"]
    kind = child["kind"]
    if kind == "Service" and not naming.is_dns1035_label(name):
        problems.append(f"Service {name}: not a DNS-1035 label")
    if kind in ("Secret", "ConfigMap") and not naming.is_dns1123_subdomain(name):
        problems.append(f"{kind} {name}: not a DNS-1123 subdomain")
    if kind == "Job" and not naming.is_dns1123_label(name):
        problems.append(f"Job {name}: its pods' job-name label must be a DNS-1123 label")
    if kind == "StatefulSet":
        revision_label = f"{name}-{'f' * 10}"
        if not naming.is_dns1123_label(revision_label):
            problems.append(f"StatefulSet {name}: controller-revision-hash label {revision_label} too long")
        last_pod = f"{name}-{replicas - 1}"
        if not naming.is_dns1123_label(last_pod):
            problems.append(f"StatefulSet {name}: pod hostname {last_pod} is not a DNS-1123 label")
    for key, value in child["metadata"].get("labels", {}).items():
        if len(value) > naming.DNS1123_LABEL_MAX:
            problems.append(f"{kind} {name}: label {key} value over 63 characters")
    return problems
