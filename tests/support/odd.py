"""Odd values for hook requests: every path of a JSON document, a value of another JSON type
for any of them, and the path as the functions' errors name it."""

import json
import re
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

Path = tuple[str | int, ...]

INT64 = (-(2**63), 2**63 - 1)  # a JSON integer beyond these is refused by the HTTP edge itself
_LEAF = st.none() | st.booleans() | st.integers(*INT64) | st.floats(allow_nan=False, allow_infinity=False)
_SHORT = st.text(max_size=8) | st.sampled_from(["", "x", "True", "1", "2026-11-28T12:00:00Z", "{}", "null"])
_INNER = st.recursive(
    _LEAF | _SHORT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_SHORT, inner, max_size=3),
    max_leaves=5,
)
# One strategy per JSON type; integers and floats apart (Kubernetes tells them apart).
OF_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "integer": st.integers(*INT64) | st.sampled_from([0, 1, -1, 2]),
    "float": st.floats(allow_nan=False, allow_infinity=False) | st.just(1.5),
    "string": _SHORT,
    "array": st.lists(_INNER, max_size=3),
    "object": st.dictionaries(_SHORT, _INNER, max_size=3),
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def one_of_evenly(choices: list[Any]) -> st.SearchStrategy[Any]:
    """Any of the choices, mostly by a seeded choice: in a large test case sampled_from (and
    any small integer) keeps coming back to the first ones, a document's root and apiVersion."""
    return st.one_of(
        st.randoms(use_true_random=True).map(lambda chosen: chosen.choice(choices)), st.sampled_from(choices)
    )


def another_type(original: Any) -> st.SearchStrategy[Any]:
    """A value of each JSON type but the original's, the type drawn first (so that each is
    as likely as the others, whatever its values)."""
    types = sorted(set(OF_TYPE) - {json_type(original)})
    return st.sampled_from(types).flatmap(lambda kind: OF_TYPE[kind])


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """The path of `value` itself and of everything inside it."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths(inner, (*prefix, index))


def get(document: Any, path: Path) -> Any:
    for part in path:
        document = document[part]
    return document


def put(document: Any, path: Path, value: Any) -> Any:
    """`document` with the value at `path` replaced (in place unless path is empty)."""
    if not path:
        return value
    get(document, path[:-1])[path[-1]] = value
    return document


def replace_in_json_text(document: Any, path: Path, inner: Path, value: Any) -> None:
    """Replace the value at `inner` inside the JSON held as a string at `path`."""
    put(document, path, json.dumps(put(json.loads(get(document, path)), inner, value), sort_keys=True))


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def shown(path: Path) -> str:
    """The path as the functions' errors name it: children['Kind.version']['ns/name'].a.b[0],
    parent.status.conditions[1].type, metadata.annotations[example.com/key]."""
    start = 1
    text = str(path[0])
    if path[0] == "children":
        text += "".join(f"[{part!r}]" for part in path[1:3])
        start = 3
    for part in path[start:]:
        text += f"[{part}]" if isinstance(part, int) or not _NAME.match(part) else f".{part}"
    return text


def names_a_path(error: str, replaced: list[Path], least: dict[str, int] | None = None) -> bool:
    """Whether the error starts by naming one of the replaced paths, a path inside it, or one
    that holds it, at least `least[root]` parts long (a child: 3; 1 unless given)."""
    shortest = {"children": 3, **(least or {})}
    for path in replaced:
        if any(error.startswith(shown(path) + after) for after in (".", "[")):
            return True
        holders = range(shortest.get(str(path[0]), 1), len(path) + 1)
        if any(error.startswith(shown(path[:length]) + ":") for length in holders):
            return True
    return False
