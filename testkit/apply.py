"""How Metacontroller updates a child it manages, as `kubectl apply` does without type
knowledge: the live object merged with the change from its last-applied copy to the desired
one. Pure."""

from __future__ import annotations

import copy
import json
from typing import Any

from mpifn import api

LAST_APPLIED = api.LAST_APPLIED_ANNOTATION  # the real Metacontroller's name, in one place
SYSTEM_METADATA = [
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
]
LIST_MAP_KEYS = ["containerPort", "port", "mountPath", "name", "uid", "ip", "path"]


def last_applied_text(obj: dict) -> str:
    """The last-applied annotation as the real controller writes it (Go's encoding/json)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def merge(live: Any, last: Any, desired: Any) -> Any:
    """Apply the change from ``last`` to ``desired`` onto ``live`` (mutated), as `kubectl apply`
    does without type knowledge: keys dropped since last are removed, lists of objects with a
    conventional key (name, port, ...) are merged item by item, other lists are replaced."""
    if isinstance(live, dict):
        return _merge_object(live, _expect(last, dict), _expect(desired, dict))
    if isinstance(live, list):
        last_list, desired_list = _expect(last, list), _expect(desired, list)
        key = _list_map_key(live, last_list, desired_list)
        return _merge_list_map(key, live, last_list, desired_list) if key else desired
    return desired


def _expect(value: Any, kind: type) -> Any:
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"cannot merge a {type(value).__name__} into a {kind.__name__}")
    return value or kind()


def _merge_object(live: dict, last: dict, desired: dict) -> dict:
    for key in last:
        if key not in desired:
            live.pop(key, None)
    for key, value in desired.items():
        live[key] = merge(live.get(key), last.get(key), value)
    return live


def _list_map_key(*lists: list) -> str:
    common: set[str] | None = None
    for items in lists:
        for item in items:
            if not isinstance(item, dict):
                return ""
            common = set(item) if common is None else common & set(item)
    return next((key for key in LIST_MAP_KEYS if common and key in common), "")


def _merge_list_map(key: str, live: list, last: list, desired: list) -> list:
    def by_key(items: list) -> dict:
        return {_key_text(item[key]): item for item in items}

    merged = _merge_object(by_key(live), by_key(last), by_key(desired))
    order = [_key_text(item[key]) for item in live] + [_key_text(item[key]) for item in desired]
    return [merged[k] for k in dict.fromkeys(order) if k in merged]


def _key_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def apply_update(live: dict, desired: dict) -> dict:
    """The object the real controller would PUT for a child: live merged with the change from
    its last-applied copy to desired; system metadata and status stay as they are live."""
    last_text = live.get("metadata", {}).get("annotations", {}).get(LAST_APPLIED)
    last = json.loads(last_text) if last_text else None
    update = copy.deepcopy(desired)
    update.get("metadata", {}).get("annotations", {}).pop(LAST_APPLIED, None)
    merged = merge(copy.deepcopy(live), last, update)
    for field in SYSTEM_METADATA:
        _revert(merged.setdefault("metadata", {}), live.get("metadata", {}), field)
    _revert(merged, live, "status")
    merged["metadata"].setdefault("annotations", {})[LAST_APPLIED] = last_applied_text(update)
    return merged


def _revert(target: dict, source: dict, key: str) -> None:
    if key in source:
        target[key] = source[key]
    else:
        target.pop(key, None)
