"""The pod template schema of the CRDs: generated from the committed part of Kubernetes'
OpenAPI (of the version the tests run), structural, and with the markers a CRD allows."""

import re
from typing import Any

import pytest

from mpifn import podtemplate
from tests.conftest import ROOT

SCHEMA = podtemplate.pod_template_schema()


def nodes(schema: Any, path: str = "") -> list[tuple[str, dict]]:
    """Every schema node with its path (properties by name, items as [], maps as *)."""
    if not isinstance(schema, dict):
        return []
    found = [(path, schema)]
    for name, child in schema.get("properties", {}).items():
        found += nodes(child, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        found += nodes(schema["additionalProperties"], f"{path}.*")
    if "items" in schema:
        found += nodes(schema["items"], f"{path}[]")
    return found


def at(path: str) -> dict:
    return dict(nodes(SCHEMA))[path]


def test_the_openapi_is_of_the_kubernetes_version_the_tests_run():
    committed = podtemplate.components()
    assert committed["kubernetes"] == podtemplate.KUBERNETES_VERSION
    assert committed["source"] == f"k8s.io/kubernetes@{podtemplate.KUBERNETES_VERSION} {podtemplate.SOURCE}"
    build_tools = (ROOT / "scripts" / "build-tools.sh").read_text()
    assert f'KUBERNETES_VERSION="${{KUBERNETES_VERSION:-{committed["kubernetes"]}}}"' in build_tools
    tools = (ROOT / "testkit" / "tools.py").read_text()
    assert re.search(rf'"kubernetes": "{re.escape(committed["kubernetes"])}"', tools)


def test_the_committed_openapi_is_trimmed_and_complete():
    """Exactly the components a PodTemplateSpec needs, without descriptions: trimming it again
    changes nothing (a missing component would raise KeyError)."""
    committed = podtemplate.components()
    again = podtemplate.trim({"components": {"schemas": committed["schemas"]}}, committed["kubernetes"])
    assert again == committed
    assert '"description"' not in podtemplate.OPENAPI_FILE.read_text()


def test_the_schema_is_structural_with_no_reference_description_or_default_left():
    for path, node in nodes(SCHEMA):
        assert "$ref" not in node and "allOf" not in node and "oneOf" not in node, path
        assert "description" not in node, path
        typed = (
            "type" in node or node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
        )
        assert typed, f"{path}: a structural schema states a type"
        assert not ("properties" in node and "additionalProperties" in node), path
        assert set(node) <= {
            "type", "format", "properties", "additionalProperties", "items", "required", "enum", "default",
            "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type",
            "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
        }, path  # fmt: skip
    defaults = {path: node["default"] for path, node in nodes(SCHEMA) if "default" in node}
    # Only the defaults a CRD needs: a list map key that is not required.
    assert defaults == {
        f".spec.{containers}[].ports[].protocol": "TCP"
        for containers in ("containers", "initContainers", "ephemeralContainers")
    } | {".spec.imagePullSecrets[].name": ""}


def test_every_list_map_key_is_required_or_defaulted():
    lists = [(path, node) for path, node in nodes(SCHEMA) if node.get("x-kubernetes-list-type") == "map"]
    assert {path for path, _ in lists} >= {".spec.containers", ".spec.containers[].env", ".spec.volumes"}
    for path, node in lists:
        for key in node["x-kubernetes-list-map-keys"]:
            item = node["items"]
            assert key in item.get("required", []) or "default" in item["properties"][key], f"{path}: {key}"


def test_openapi_shapes_a_structural_schema_cannot_state():
    # IntOrString: integer or string.
    assert at(".spec.containers[].livenessProbe.httpGet.port") == {"x-kubernetes-int-or-string": True}
    # Quantity is a string or a number (cpu: 0.5): any value, left to the API server's pod checks.
    assert at(".spec.containers[].resources.limits.*") == {"x-kubernetes-preserve-unknown-fields": True}
    # FieldsV1 is free-form JSON.
    assert at(".metadata.managedFields[].fieldsV1") == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert at(".metadata.creationTimestamp") == {"type": "string", "format": "date-time"}
    assert at(".spec.containers")["x-kubernetes-list-map-keys"] == ["name"]
    assert at(".spec.nodeSelector")["x-kubernetes-map-type"] == "atomic"
    assert "command" in at(".spec.containers[]")["properties"]
    assert "x-kubernetes-preserve-unknown-fields" not in at(".spec.containers[]")


def test_a_component_used_twice_is_written_once():
    """YAML writes a shared object once (an anchor): the committed CRDs stay readable in size."""
    spec = SCHEMA["properties"]["spec"]["properties"]
    assert spec["containers"]["items"]["properties"]["env"] is spec["initContainers"]["items"]["properties"]["env"]


def schemas(**components: dict) -> dict[str, dict]:
    return {f"x.{name}": schema for name, schema in components.items()}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/x.{name}"}


def test_a_reference_cycle_is_refused():
    cyclic = schemas(A={"type": "object", "properties": {"b": ref("B")}}, B={"type": "array", "items": ref("A")})
    with pytest.raises(podtemplate.UnsupportedSchema, match=r"x\.A -> x\.B -> x\.A"):
        podtemplate.crd_schema(cyclic, "x.A")


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "^a"}}},
        {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}},
        {"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}, {"$ref": "#/x"}]}}},
        {"type": "object", "additionalProperties": False},
    ],
)
def test_a_keyword_without_a_rule_is_refused_not_dropped(schema):
    """A new Kubernetes version that uses something new makes the generator stop, not guess."""
    with pytest.raises(podtemplate.UnsupportedSchema):
        podtemplate.crd_schema(schemas(A=schema), "x.A")


def test_a_list_map_key_without_default_or_requirement_is_refused():
    components = schemas(
        A={
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": ref("B"),
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                }
            },
        },
        B={"type": "object", "properties": {"name": {"type": "string"}}},
    )
    with pytest.raises(podtemplate.UnsupportedSchema, match="neither required nor defaulted"):
        podtemplate.crd_schema(components, "x.A")


def test_unknown_formats_are_dropped():
    components = schemas(
        A={
            "type": "object",
            "properties": {
                "n": {"type": "integer", "format": "int32"},
                "s": {"type": "string", "format": "int-or-what"},
                "t": {"type": "string", "format": "date-time"},
            },
        }
    )
    assert podtemplate.crd_schema(components, "x.A")["properties"] == {
        "n": {"type": "integer", "format": "int32"},
        "s": {"type": "string"},
        "t": {"type": "string", "format": "date-time"},
    }
