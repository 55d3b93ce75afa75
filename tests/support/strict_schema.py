"""kubernetes-validate's strict schemas with the validators kept between calls.

`kubernetes_validate.validate` re-reads the schema files on every call (about 16 ms a
child); property tests check thousands of children, so this module loads each schema
once and reuses one validator per kind. `tests/test_properties.py` checks that it
agrees with `tests.support.kubernetes.validate_strict`.
"""

import json
import re
from functools import cache, lru_cache
from typing import Any

import importlib_resources
import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

from tests.support.kubernetes import KUBERNETES_VERSION


def _schema_dir() -> Any:
    return importlib_resources.files("kubernetes_validate").joinpath(
        "kubernetes-json-schema", f"v{KUBERNETES_VERSION}-local-strict"
    )


@lru_cache(maxsize=1)
def _definitions() -> Resource:
    return Resource.from_contents(json.loads(_schema_dir().joinpath("_definitions.json").read_text()))


@cache
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = json.loads(_schema_dir().joinpath(f"{kind.lower()}-{group_version}.json").read_text())
    registry = _definitions() @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validate_strict_fast(child: dict[str, Any]) -> None:
    """Same verdict as validate_strict; raises kubernetes_validate.ValidationError."""
    with_namespace = {**child, "metadata": {"namespace": "default", **child["metadata"]}}
    try:
        _validator(child["kind"], child["apiVersion"]).validate(with_namespace)
    except jsonschema.ValidationError as error:
        raise kubernetes_validate.ValidationError(error, version=KUBERNETES_VERSION) from error
