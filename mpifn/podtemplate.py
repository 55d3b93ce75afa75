"""The pod template schema of the CRDs, generated from Kubernetes' own OpenAPI.

Every pod template field of the MPIJob CRDs carries the real PodTemplateSpec schema, so that
the API server's strict field validation refuses a typo such as `comand:` at apply time
(as it does for a Deployment or for Kubeflow's CRD), and `mpifn render` and sync can name it.

The source is the OpenAPI v3 document of the core/v1 API of Kubernetes KUBERNETES_VERSION,
the version the tests run: `api/openapi-spec/v3/api__v1_openapi.json` of the Go module
k8s.io/kubernetes. OPENAPI_FILE holds the part of it that a PodTemplateSpec needs (the
component schemas it refers to, without their descriptions), committed so that
`mpifn manifests` and the tests need neither Go nor a network. To move to another version,
change KUBERNETES_VERSION here as in scripts/build-tools.sh and testkit/tools.py
(tests/test_podtemplate.py holds the three equal), then:

    python3 -m mpifn.podtemplate   # from the Go module cache (go mod download fetches it)
    python3 -m mpifn manifests

`crd_schema` turns the components into a structural CRD schema: references inlined,
descriptions and defaults dropped (size; a default in a CRD would be written into every
stored MPIJob), the list and map markers a CRD allows kept, and the few OpenAPI shapes a
structural schema cannot state mapped to the nearest one that accepts the same values."""

import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

KUBERNETES_VERSION = "v1.36.3"
ROOT = "io.k8s.api.core.v1.PodTemplateSpec"
OPENAPI_FILE = Path(__file__).parent / "openapi" / "podtemplatespec.json"
SOURCE = "api/openapi-spec/v3/api__v1_openapi.json"
_REF_PREFIX = "#/components/schemas/"

# Keywords copied as they are: each is valid in a CRD schema with the same meaning.
_KEPT = ("type", "required", "enum", "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type")
# Keywords with no place (or no use) in a CRD schema: documentation, and the strategic merge
# patch and union markers of built-in types, which CRDs do not have.
_DROPPED = (
    "description",
    "default",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-unions",
)
# The formats the API server knows for each type (it warns about any other).
_FORMATS = {"integer": ("int32", "int64"), "number": ("float", "double"), "string": ("date-time", "byte")}

JsonObject = dict[str, Any]


class UnsupportedSchema(ValueError):
    """The OpenAPI uses something the generator has no rule for: a new Kubernetes version needs one."""


def trim(document: JsonObject, version: str = KUBERNETES_VERSION) -> JsonObject:
    """The component schemas a PodTemplateSpec refers to, directly or not, without descriptions."""
    components = document["components"]["schemas"]
    needed: dict[str, JsonObject] = {}
    pending = [ROOT]
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed[name] = _without_descriptions(components[name])
        pending.extend(_references(components[name]))
    return {
        "kubernetes": version,
        "source": f"k8s.io/kubernetes@{version} {SOURCE}",
        "root": ROOT,
        "schemas": dict(sorted(needed.items())),
    }


def _without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                {name: _without_descriptions(value) for name, value in item.items()}
                if key == "properties"
                else _without_descriptions(item)
            )
            for key, item in node.items()
            if key != "description"
        }
    if isinstance(node, list):
        return [_without_descriptions(item) for item in node]
    return node


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"].removeprefix(_REF_PREFIX)] if isinstance(node.get("$ref"), str) else []
        return found + [name for item in node.values() for name in _references(item)]
    if isinstance(node, list):
        return [name for item in node for name in _references(item)]
    return []


@lru_cache(maxsize=1)
def components() -> JsonObject:
    return dict(json.loads(OPENAPI_FILE.read_text()))


@lru_cache(maxsize=1)
def pod_template_schema() -> JsonObject:
    """The structural schema of a pod template (shared: do not modify it)."""
    trimmed = components()
    return crd_schema(trimmed["schemas"], trimmed["root"])


def crd_schema(schemas: dict[str, JsonObject], name: str) -> JsonObject:
    """The structural CRD schema of the component `name`. A component used in several places is
    one object (YAML writes it once, as an anchor); a reference cycle is an error, since a CRD
    schema is finite."""
    converted: dict[str, JsonObject] = {}
    converting: list[str] = []

    def resolve(node: JsonObject) -> JsonObject:
        while "$ref" in node or "allOf" in node:
            node = schemas[node["$ref"].removeprefix(_REF_PREFIX)] if "$ref" in node else node["allOf"][0]
        return node

    def component(ref: str, path: tuple[str, ...]) -> JsonObject:
        target = ref.removeprefix(_REF_PREFIX)
        if target in converting:
            cycle = " -> ".join((*converting[converting.index(target) :], target))
            raise UnsupportedSchema(f"{'.'.join(path)}: reference cycle {cycle}: a CRD schema is finite")
        if target not in converted:
            converting.append(target)
            converted[target] = convert(schemas[target], path)
            converting.pop()
        return converted[target]

    def convert(node: JsonObject, path: tuple[str, ...]) -> JsonObject:
        if "$ref" in node:
            return component(node["$ref"], path)
        if "allOf" in node:
            # `allOf: [{$ref}]` beside a default or a description: the referenced schema.
            rest = set(node) - {"allOf", *_DROPPED}
            if rest or len(node["allOf"]) != 1:
                raise UnsupportedSchema(f"{'.'.join(path)}: allOf {node['allOf']!r} beside {sorted(rest)}")
            return convert(node["allOf"][0], path)
        if "oneOf" in node:
            return _one_of(node, path)
        unknown = set(node) - {*_KEPT, *_DROPPED, "format", "properties", "additionalProperties", "items"}
        if unknown:
            raise UnsupportedSchema(f"{'.'.join(path)}: no rule for {sorted(unknown)}")
        out: JsonObject = {key: node[key] for key in _KEPT if key in node}
        if node.get("format") in _FORMATS.get(node.get("type", ""), ()):
            out["format"] = node["format"]
        if "properties" in node:
            out["properties"] = {field: convert(schema, (*path, field)) for field, schema in node["properties"].items()}
        if isinstance(node.get("additionalProperties"), dict):
            out["additionalProperties"] = convert(node["additionalProperties"], (*path, "*"))
        elif "additionalProperties" in node:
            raise UnsupportedSchema(f"{'.'.join(path)}: additionalProperties {node['additionalProperties']!r}")
        if "items" in node:
            out["items"] = _with_map_key_defaults(convert(node["items"], (*path, "[]")), node, resolve, path)
        if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
            # Free-form JSON (FieldsV1): a CRD keeps it only when told to.
            out["x-kubernetes-preserve-unknown-fields"] = True
        return out

    return component(_REF_PREFIX + name, (name,))


def _one_of(node: JsonObject, path: tuple[str, ...]) -> JsonObject:
    """A value of one of several scalar types. A structural schema states one type, or integer
    or string with x-kubernetes-int-or-string (IntOrString); any other mix (Quantity: string or
    number, so `cpu: 0.5` is valid) accepts any value here and is left to the API server's
    checks of the pods made from it."""
    types = {option.get("type") for option in node["oneOf"]}
    if any(set(option) != {"type"} for option in node["oneOf"]) or None in types:
        raise UnsupportedSchema(f"{'.'.join(path)}: oneOf {node['oneOf']!r}")
    if types == {"integer", "string"}:
        return {"x-kubernetes-int-or-string": True}
    return {"x-kubernetes-preserve-unknown-fields": True}


def _with_map_key_defaults(items: JsonObject, node: JsonObject, resolve: Any, path: tuple[str, ...]) -> JsonObject:
    """A CRD wants each key of an x-kubernetes-list-type map list to be required or to have a
    default: such a default (ContainerPort.protocol: TCP) stays, as the API server's own, on a
    copy of the items' schema for this list."""
    keys = [key for key in node.get("x-kubernetes-list-map-keys", ()) if key not in items.get("required", ())]
    if not keys:
        return items
    source = resolve(node["items"])["properties"]
    properties = dict(items["properties"])
    for key in keys:
        if "default" not in source[key]:
            raise UnsupportedSchema(f"{'.'.join(path)}: list map key {key} is neither required nor defaulted")
        properties[key] = {**properties[key], "default": source[key]["default"]}
    return {**items, "properties": properties}


def openapi_document(version: str) -> Path:
    """The core/v1 OpenAPI document of Kubernetes `version`, from the Go module cache (`go mod
    download` fetches the module if it is not there)."""
    import subprocess  # here, like argparse in main: the functions import this module, never these

    result = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"go mod download k8s.io/kubernetes@{version}: {result.stdout}{result.stderr}")
    return Path(json.loads(result.stdout)["Dir"]) / SOURCE


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python3 -m mpifn.podtemplate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--openapi", type=Path, help=f"{SOURCE} of Kubernetes {KUBERNETES_VERSION}, instead of the Go module cache's"
    )
    args = parser.parse_args(argv)
    source = args.openapi or openapi_document(KUBERNETES_VERSION)
    trimmed = trim(json.loads(source.read_text()))
    OPENAPI_FILE.parent.mkdir(exist_ok=True)
    OPENAPI_FILE.write_text(json.dumps(trimmed, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OPENAPI_FILE} ({len(trimmed['schemas'])} schemas); now run: python3 -m mpifn manifests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
