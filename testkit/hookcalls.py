"""The stand-in's calls of the hooks: sync, finalize and customize (v2), with the webhook's
bearer token and timeout; the objects of customize's related rules, informers started on
first use."""

from __future__ import annotations

import base64
import copy
import email.utils
import json
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from testkit.informers import Informers, ns_name, related_rule_key, selects
from testkit.loopback import http

RESPONSE_FIELDS = {"status", "children", "resyncAfterSeconds", "finalized"}  # v2 decodes strictly


class HookError(Exception):
    """A sync failed: retried with backoff and recorded as a SyncError event."""


class TooManyRequests(Exception):
    def __init__(self, after: int) -> None:
        super().__init__(f"Too many request, it will be resync after: {after}")
        self.after = after


def retry_after_seconds(header: str | None, now: float | None = None) -> int:
    """Retry-After as whole seconds: a number, or an HTTP date; unreadable: 0."""
    if not header:
        return 0
    if header.strip().isdigit():
        return int(header.strip())
    try:
        when = email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return 0
    return max(0, math.ceil(when - (time.time() if now is None else now)))


def duration_seconds(text: str) -> float:
    """A Go duration of the form the CompositeController uses ("10s", "500ms", "1m")."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * units[unit]
    raise ValueError(f"webhook timeout {text!r}: expected a duration such as 10s")


class HookCalls(Informers):
    controller: dict
    hooks: dict[str, dict]

    if TYPE_CHECKING:

        def _spawn(self, name: str, target: Callable[[], None]) -> None: ...

    def _related(self, parent: dict) -> dict[str, dict[str, dict]]:
        """The objects the customize hook asks for, keyed like children ({} without the hook)."""
        if "customize" not in self.hooks:
            return {}
        meta = parent["metadata"]
        answer_key = (meta["uid"], int(meta.get("generation") or 0))
        with self._lock:
            rules = self._customized.get(answer_key)
        if rules is None:
            answer = self._post("customize", {"controller": self.controller, "parent": parent}, {"relatedResources"})
            rules = answer.get("relatedResources") or []
            with self._lock:
                self._customized[answer_key] = rules
        related: dict[str, dict[str, dict]] = {}
        for rule in rules:
            informer = self._related_informer(rule)
            with self._lock:
                objects = list(self._cache.get(informer["key"], {}).values())
            group = related.setdefault(informer["key"], {})
            for obj in objects:
                if selects(rule, obj):
                    group[ns_name(obj)] = copy.deepcopy(obj)
        return related

    def _related_informer(self, rule: dict) -> dict:
        """The informer of a related resource, started (listed, then watched) on first use."""
        which = related_rule_key(rule)
        with self._lock:
            known = self._related_rules.get(which)
        if known is not None:
            return known
        informer = self._rule({"apiVersion": which[0], "resource": which[1]})
        version = self._first_list(informer)
        with self._lock:
            if which in self._related_rules:  # another worker started it meanwhile
                return self._related_rules[which]
            self._related_rules[which] = informer
        self._spawn(f"watch-related-{informer['plural']}", lambda: self._watch(informer, version))
        return informer

    def _call_hook(self, hook: str, parent: dict, observed: dict, related: dict | None = None) -> dict:
        request = {
            "controller": self.controller,
            "parent": parent,
            "children": observed,
            "related": related or {},
            "finalizing": hook == "finalize",
        }
        return self._post(hook, request, RESPONSE_FIELDS)

    def _post(self, hook: str, request: dict, fields: set[str]) -> dict:
        """One hook call; anything but 200 with only the answer's own fields fails the sync."""
        webhook = self.hooks[hook]
        timeout = duration_seconds(webhook.get("timeout", "10s"))
        token = self._webhook_token(webhook)
        try:
            status, answer, headers = http("POST", webhook["url"], request, token=token, timeout=timeout)
        except OSError as exc:
            raise HookError(f"http error: {exc}") from exc
        if status == 429:
            raise TooManyRequests(retry_after_seconds(headers.get("Retry-After")))
        if status != 200:
            raise HookError(f"unsupported status code: {status} body: {json.dumps(answer)[:500]}")
        unknown = set(answer) - fields if isinstance(answer, dict) else {"(not an object)"}
        if unknown:
            raise HookError(f"can't unmarshal the v2 {hook} response: unknown fields {sorted(unknown)}")
        return answer

    def _webhook_token(self, webhook: dict) -> str:
        ref = webhook.get("authorization", {}).get("secretRef")
        if not ref:
            return ""
        status, secret = self.api("GET", f"/api/v1/namespaces/{ref['namespace']}/secrets/{ref['name']}")
        data = secret.get("data", {}) if isinstance(secret, dict) else {}
        if status != 200 or ref["key"] not in data:
            raise HookError(f"webhook authorization: no key {ref['key']} in Secret {ref['namespace']}/{ref['name']}")
        return base64.b64decode(data[ref["key"]]).decode()
