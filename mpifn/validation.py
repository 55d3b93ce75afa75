"""JSON-schema checks whose messages name the field, the rule and the value given."""

import json
from typing import Any

import jsonschema

_TYPES = jsonschema.Draft7Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)
_StrictValidator = jsonschema.validators.extend(jsonschema.Draft7Validator, type_checker=_TYPES)


def validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A Draft 7 validator in which 2.0 is not an integer (a slot count must print as 2)."""
    return _StrictValidator(schema)


def problems(validator: jsonschema.protocols.Validator, instance: Any, root: str) -> list[str]:
    return sorted(describe(error, root) for error in validator.iter_errors(instance))


def describe(error: jsonschema.ValidationError, root: str) -> str:
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


def show(value: Any) -> str:
    return json.dumps(value)[:80]
