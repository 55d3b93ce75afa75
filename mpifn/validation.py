"""JSON-schema checks whose messages name the field, the rule and the value given."""

import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema


class Validator:
    """A Draft 7 validator in which 2.0 is not an integer (a slot count must print as 2).

    Valid input, the usual case, is confirmed by a small checker of the keywords our
    schemas use; jsonschema (slow to import) is loaded only to explain invalid input or
    a schema the checker does not know, so every answer is jsonschema's own."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._full: Any = None

    def iter_errors(self, instance: Any) -> Any:
        if self._full is None:
            self._full = _strict_validator_class()(self.schema)
        return self._full.iter_errors(instance)


@lru_cache(maxsize=1)
def _strict_validator_class() -> Any:
    import jsonschema

    types = jsonschema.Draft7Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(jsonschema.Draft7Validator, type_checker=types)


def validator(schema: dict[str, Any]) -> Validator:
    return Validator(schema)


def problems(validator: Validator, instance: Any, root: str) -> list[str]:
    if _surely_valid(validator.schema, instance):
        return []
    return sorted(describe(error, root) for error in validator.iter_errors(instance))


_TYPE_CHECKS = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "null": lambda value: value is None,
}
_ANNOTATIONS = frozenset(("description", "default", "title", "examples", "$comment"))


def _surely_valid(schema: Any, value: Any) -> bool:
    """True only when `value` is valid under Draft 7 (with the strict integer). False means
    invalid or not decided here: jsonschema then gives the answer."""
    if not isinstance(schema, dict):
        return False
    for keyword, bound in schema.items():
        if keyword == "type":
            check = _TYPE_CHECKS.get(bound) if isinstance(bound, str) else None
            if check is None or not check(value):
                return False
        elif keyword == "properties":
            if isinstance(value, dict):
                for name, subschema in bound.items():
                    if name in value and not _surely_valid(subschema, value[name]):
                        return False
        elif keyword == "required":
            if isinstance(value, dict) and any(name not in value for name in bound):
                return False
        elif keyword == "additionalProperties":
            if "patternProperties" in schema or bound is not False:
                return False
            if isinstance(value, dict) and any(name not in schema.get("properties", {}) for name in value):
                return False
        elif keyword == "items":
            if not isinstance(bound, dict):
                return False
            if isinstance(value, list) and not all(_surely_valid(bound, item) for item in value):
                return False
        elif keyword in ("minimum", "maximum", "exclusiveMinimum"):
            if not isinstance(bound, int | float) or isinstance(bound, bool):
                return False
            if isinstance(value, int | float) and not isinstance(value, bool):
                if keyword == "minimum" and value < bound:
                    return False
                if keyword == "maximum" and value > bound:
                    return False
                if keyword == "exclusiveMinimum" and value <= bound:
                    return False
        elif keyword == "enum":
            if not all(isinstance(member, str) for member in bound) or value not in bound or not isinstance(value, str):
                return False
        elif keyword == "pattern":
            if isinstance(value, str) and not _pattern(bound).search(value):
                return False
        elif keyword not in _ANNOTATIONS and not keyword.startswith("x-"):
            return False
    return True


@lru_cache(maxsize=64)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def describe(error: "jsonschema.ValidationError", root: str) -> str:
    schema: dict[str, Any] = dict(error.schema) if isinstance(error.schema, dict) else {}
    bound: Any = error.validator_value
    path = ".".join([root, *(str(p) for p in error.absolute_path)])
    got = show(error.instance)
    if error.validator == "type":
        article = "an" if bound in ("integer", "object", "array") else "a"
        minimum = schema.get("minimum")
        suffix = f" >= {minimum}" if minimum is not None else ""
        return f"{path}: must be {article} {bound}{suffix}, got {got}"
    if error.validator == "minimum":
        return f"{path}: must be >= {bound}, got {got}"
    if error.validator == "maximum":
        return f"{path}: must be <= {bound}, got {got}"
    if error.validator == "exclusiveMinimum":
        return f"{path}: must be > {bound}, got {got}"
    if error.validator == "enum":
        return f"{path}: must be one of {', '.join(map(str, bound))}, got {got}"
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return f"{path}.{missing}: required"
    if error.validator == "additionalProperties":
        given: Any = error.instance
        extra = sorted(set(given) - set(schema.get("properties", {})))
        allowed = ", ".join(sorted(schema.get("properties", {})))
        return f"{path}: unknown field(s) {', '.join(extra)}; allowed: {allowed}"
    if error.validator == "pattern":
        return f"{path}: must match {bound}, got {got}"
    return f"{path}: {error.message}"


def unknown_fields(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Fields the schema does not declare, named as the API server's strict field validation
    names them (`unknown field "spec.slotPerWorker"`); free-form parts are not entered."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(value, dict) and "properties" in schema:
        found = []
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in schema["properties"]:
                found += unknown_fields(schema["properties"][key], item, where)
            else:
                found.append(f'unknown field "{where}"')
        return found
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        return [
            problem
            for key, item in value.items()
            for problem in unknown_fields(schema["additionalProperties"], item, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [
            problem for i, item in enumerate(value) for problem in unknown_fields(schema["items"], item, f"{path}[{i}]")
        ]
    return []


def show(value: Any) -> str:
    return json.dumps(value)[:80]


def has_containers(template: Any) -> bool:
    """A pod template with a non-empty list of container objects (builders take the first)."""
    pod = template.get("spec") if isinstance(template, dict) else None
    containers = pod.get("containers") if isinstance(pod, dict) else None
    return isinstance(containers, list) and bool(containers) and all(isinstance(c, dict) for c in containers)
