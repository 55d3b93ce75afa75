"""The stand-in's informers: discovery of each rule's resource, a list and a watch per
resource into a cache, and which parent each change queues."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from testkit.loopback import INSECURE, http
from testkit.workqueue import WorkQueue

if TYPE_CHECKING:
    from testkit.cluster import Cluster

WATCH_SECONDS = 5  # each watch request ends after this long and is reopened (bounds stop())


def ns_name(obj: dict) -> str:
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def related_rule_key(rule: dict) -> tuple[str, str]:
    return rule["apiVersion"], rule["resource"]


def selects(rule: dict, obj: dict) -> bool:
    """Whether a relatedResources rule (namespace, names, labelSelector) selects `obj`."""
    meta = obj["metadata"]
    if rule.get("namespace") and meta.get("namespace") != rule["namespace"]:
        return False
    if rule.get("names") and meta["name"] not in rule["names"]:
        return False
    selector = rule.get("labelSelector") or {}
    labels = meta.get("labels") or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        present, value = expression["key"] in labels, labels.get(expression["key"])
        holds = {
            "In": present and value in expression.get("values", []),
            "NotIn": not present or value not in expression.get("values", []),
            "Exists": present,
            "DoesNotExist": not present,
        }
        if not holds[expression["operator"]]:
            return False
    return True


class Informers:
    """The API server as the stand-in sees it: rules, a cache per rule key, the work queue."""

    cluster: Cluster
    resync: int
    parent_rule: dict
    child_rules: list[dict]
    queue: WorkQueue
    log: list[str]
    _stop: threading.Event
    _lock: threading.Lock
    _cache: dict[str, dict[str, dict]]
    _customized: dict[tuple[str, int], list[dict]]
    _related_rules: dict[tuple[str, str], dict]

    def api(self, method: str, path: str, body: Any = None, patch: str = "") -> tuple[int, Any]:
        ctype = {"merge": "application/merge-patch+json", "json": "application/json-patch+json"}.get(patch, "")
        status, out, _ = http(method, self.cluster.server + path, body, self.cluster.token, ctype or "application/json")
        return status, out

    def _rule(self, resource: dict) -> dict:
        """Kind, request key and URL prefix of a parent or child rule, from discovery."""
        api_version, plural = resource["apiVersion"], resource["resource"]
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        status, discovery = self.api("GET", base)
        kind = next((r["kind"] for r in discovery.get("resources", []) if r["name"] == plural), None)
        if status != 200 or not kind:
            raise RuntimeError(f"discovery: no {plural} in {base}: {status} {discovery}")
        return {
            "kind": kind,
            "apiVersion": api_version,
            "key": f"{kind}.{api_version}",
            "base": base,
            "plural": plural,
            "method": (resource.get("updateStrategy") or {}).get("method", "OnDelete"),
        }

    def _path(self, rule: dict, namespace: str | None = None, name: str = "") -> str:
        path = rule["base"] + (f"/namespaces/{namespace}" if namespace else "") + f"/{rule['plural']}"
        return path + (f"/{name}" if name else "")

    def _note(self, text: str) -> None:
        with self._lock:
            self.log.append(text)
            del self.log[:-500]

    def _list(self, rule: dict) -> str:
        status, out = self.api("GET", self._path(rule))
        if status != 200:
            raise RuntimeError(f"list {rule['plural']}: {status} {out}")
        objects = {}
        for obj in out["items"]:
            obj.setdefault("kind", rule["kind"])
            obj.setdefault("apiVersion", rule["apiVersion"])
            objects[ns_name(obj)] = obj
        with self._lock:
            self._cache[rule["key"]] = objects
        return str(out["metadata"]["resourceVersion"])

    def _first_list(self, rule: dict) -> str:
        """The informer's first list, tried again for a while (a new CRD answers 429 at first)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                return self._list(rule)
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _watch(self, rule: dict, version: str) -> None:
        while not self._stop.is_set():
            query = urllib.parse.urlencode(
                {"watch": "1", "resourceVersion": version, "timeoutSeconds": WATCH_SECONDS, "allowWatchBookmarks": "1"}
            )
            request = urllib.request.Request(self.cluster.server + self._path(rule) + "?" + query)
            request.add_header("Authorization", f"Bearer {self.cluster.token}")
            try:
                with urllib.request.urlopen(request, timeout=WATCH_SECONDS + 10, context=INSECURE) as stream:
                    for line in stream:
                        event = json.loads(line)
                        if event["type"] == "ERROR":  # e.g. 410 Gone: list again
                            version = self._relist(rule)
                            break
                        version = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            self._observe(rule, event["type"], event["object"])
            except Exception as exc:  # a dropped watch is listed again and reopened, as an informer does
                self._note(f"watch {rule['plural']}: {exc!r}")
                while not self._stop.wait(1.0):
                    with contextlib.suppress(Exception):
                        version = self._relist(rule)
                        break

    def _relist(self, rule: dict) -> str:
        with self._lock:
            before = dict(self._cache.get(rule["key"], {}))
        version = self._list(rule)
        with self._lock:
            after = dict(self._cache[rule["key"]])
        for key in before.keys() | after.keys():
            if before.get(key) != after.get(key):
                obj = after.get(key) or before[key]
                self._enqueue_for(rule, obj)
        return version

    def _observe(self, rule: dict, kind: str, obj: dict) -> None:
        obj.setdefault("kind", rule["kind"])
        obj.setdefault("apiVersion", rule["apiVersion"])
        with self._lock:
            objects = self._cache.setdefault(rule["key"], {})
            if kind == "DELETED":
                objects.pop(ns_name(obj), None)
            else:
                objects[ns_name(obj)] = obj
        self._enqueue_for(rule, obj)

    def _enqueue_for(self, rule: dict, obj: dict) -> None:
        """A parent's own change queues it; a child's change queues the parent controlling it;
        a related object's change queues every parent whose customize rules select it."""
        if rule is self.parent_rule:
            self.queue.add_after(ns_name(obj))
            return
        if rule in self._related_rules.values():
            with self._lock:
                parents = list(self._cache[self.parent_rule["key"]].items())
                answers = dict(self._customized)
            for key, parent in parents:
                rules = answers.get((parent["metadata"]["uid"], int(parent["metadata"].get("generation") or 0)), [])
                if any(related_rule_key(r) == (rule["apiVersion"], rule["plural"]) and selects(r, obj) for r in rules):
                    self.queue.add_after(key)
            return
        for ref in obj["metadata"].get("ownerReferences", []):
            if ref.get("controller") and ref.get("kind") == self.parent_rule["kind"]:
                key = f"{obj['metadata'].get('namespace', '')}/{ref['name']}"
                with self._lock:
                    owner = self._cache[self.parent_rule["key"]].get(key)
                if owner is not None and owner["metadata"]["uid"] == ref["uid"]:
                    self.queue.add_after(key)

    def _resync(self) -> None:
        while not self._stop.wait(self.resync):
            with self._lock:
                keys = list(self._cache[self.parent_rule["key"]])
            for key in keys:
                self.queue.add_after(key)
