"""STAND-IN for Metacontroller's CompositeController loop, for the e2e tests only.

The real Metacontroller cannot be built on this machine (the Go module proxy
refuses github.com/metacontroller/metacontroller, every version), so this
driver plays its part. It follows the documented contract (docs/design.md,
"The Metacontroller contract";
Metacontroller's CompositeController and hook v2 docs) and nothing more:

- it is configured by the shipped CompositeController (from `kubectl
  kustomize metacontroller/`, hook base URL made local): parentResource,
  childResources with their updateStrategy, hooks (version v2), finalize;
- for each parent it POSTs {"controller", "parent", "children", "related",
  "finalizing"} to sync (finalize once deletionTimestamp is set); children are
  the objects of each child rule owned (controller ownerReference) by the
  parent, keyed "Kind.version" / "Kind.group/version", then "namespace/name";
- only HTTP 200 counts: anything else is recorded in ``errors`` and changes nothing;
- on 200 each desired child gets the namespace, a controller ownerReference and
  the last-applied annotation; it is created if missing, updated (InPlace) only
  when its desired form differs from the last-applied annotation, never updated
  (OnDelete); observed children that are not desired are deleted; the status is
  written through the status subresource only when it differs;
- the finalizer metacontroller.io/compositecontroller-<name> is added to every
  parent and removed when finalize answers finalized: true.

A parent is synced when it or one of its children changed (what the real
informers see), after resyncAfterSeconds, and every resync period
(resyncPeriodSeconds, else the real one's cache flush, every 30 min). Not
modelled (the tests do not need it): watches (it polls), exponential backoff,
Retry-After, a 3-way merge against fields changed by others, webhook auth.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from .cluster import _INSECURE, Cluster

LAST_APPLIED = "metacontroller.k8s.io/last-applied-configuration"
# Without resyncPeriodSeconds the real Metacontroller syncs a parent on a timer only when its
# informers relist (-cache-flush-interval, 30 min by default): the relist updates every parent.
CACHE_FLUSH_SECONDS = 1800.0
RESPONSE_FIELDS = {"status", "children", "resyncAfterSeconds", "finalized"}  # v2 decodes strictly


def http(method: str, url: str, body: Any = None, token: str = "", content_type: str = "application/json"):
    """(status, parsed JSON or text) of a loopback request."""
    if not url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
        raise ValueError(f"refusing non-loopback URL {url}")
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15, context=_INSECURE if url.startswith("https") else None) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class HookDriver:
    def __init__(self, cluster: Cluster, controller: dict, interval: float = 0.5, resync_period: float | None = None):
        self.cluster, self.controller, self.interval = cluster, controller, interval
        spec = controller["spec"]
        self.resync_period = resync_period or float(spec.get("resyncPeriodSeconds") or CACHE_FLUSH_SECONDS)
        self.finalizer = f"metacontroller.io/compositecontroller-{controller['metadata']['name']}"
        self.hooks = {name: hook["webhook"]["url"] for name, hook in spec["hooks"].items()}
        assert all(hook.get("version") == "v2" for hook in spec["hooks"].values()), "only v2 hooks are driven"
        self.parent_rule = self._rule(spec["parentResource"])
        self.child_rules = [self._rule(r) for r in spec["childResources"]]
        self.errors: list[dict] = []  # what Metacontroller would record as SyncError events
        self.calls: list[tuple[str, str]] = []  # (hook, "ns/name") of every 200 answer
        self._seen: dict[str, tuple] = {}  # parent uid -> (fingerprint, next timed sync)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hookdriver", daemon=True)

    # -- the API server ------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, patch: str = "") -> tuple[int, Any]:
        ctype = {"merge": "application/merge-patch+json", "json": "application/json-patch+json"}.get(patch, "")
        return http(method, self.cluster.server + path, body, self.cluster.token, ctype or "application/json")

    def _rule(self, resource: dict) -> dict:
        """Kind, request key and URL prefix of a parent or child rule, from discovery."""
        api_version, plural = resource["apiVersion"], resource["resource"]
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        status, discovery = self.api("GET", base)
        kind = next((r["kind"] for r in discovery.get("resources", []) if r["name"] == plural), None)
        assert status == 200 and kind, f"discovery: no {plural} in {base}: {status} {discovery}"
        method = (resource.get("updateStrategy") or {}).get("method", "OnDelete")
        return {
            "kind": kind,
            "apiVersion": api_version,
            "key": f"{kind}.{api_version}",
            "base": base,
            "plural": plural,
            "method": method,
        }

    def _path(self, rule: dict, namespace: str | None = None, name: str = "") -> str:
        path = rule["base"] + (f"/namespaces/{namespace}" if namespace else "") + f"/{rule['plural']}"
        return path + (f"/{name}" if name else "")

    def _list(self, rule: dict) -> list[dict]:
        status, out = self.api("GET", self._path(rule))
        if status != 200:
            raise RuntimeError(f"list {rule['plural']}: {status} {out}")
        return out["items"]

    # -- the loop -----------------------------------------------------------

    def start(self) -> HookDriver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync_all()
            except Exception as exc:  # a flaky list must not end the loop
                self.errors.append({"parent": "*", "error": repr(exc)})

    def sync_all(self) -> None:
        owned: dict[str, dict[str, dict]] = {}
        for rule in self.child_rules:
            for child in self._list(rule):
                child.setdefault("kind", rule["kind"])
                child.setdefault("apiVersion", rule["apiVersion"])
                for ref in child["metadata"].get("ownerReferences", []):
                    if ref.get("controller"):
                        ns_name = f"{child['metadata'].get('namespace', '')}/{child['metadata']['name']}"
                        owned.setdefault(ref["uid"], {}).setdefault(rule["key"], {})[ns_name] = child
        now = time.monotonic()
        for parent in self._list(self.parent_rule):
            uid = parent["metadata"]["uid"]
            children = {rule["key"]: owned.get(uid, {}).get(rule["key"], {}) for rule in self.child_rules}
            fingerprint = (
                parent["metadata"]["resourceVersion"],
                sorted(c["metadata"]["resourceVersion"] for m in children.values() for c in m.values()),
            )
            before, due = self._seen.get(uid, (None, 0.0))
            if fingerprint != before or now >= due:
                self._seen[uid] = (fingerprint, now + self.sync_parent(parent, children))

    def sync_parent(self, parent: dict, children: dict) -> float:
        """One reconcile of one parent; returns the seconds until its next timed sync."""
        meta = parent["metadata"]
        where = f"{meta.get('namespace', '')}/{meta['name']}"
        finalizing = bool(meta.get("deletionTimestamp"))
        finalizers = meta.get("finalizers", [])
        if finalizing and (self.finalizer not in finalizers or "finalize" not in self.hooks):
            return self.resync_period
        if not finalizing and "finalize" in self.hooks and self.finalizer not in finalizers:
            patch = [
                {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
                {"op": "add", "path": "/metadata/finalizers", "value": [*finalizers, self.finalizer]},
            ]
            self.api("PATCH", self._path(self.parent_rule, meta.get("namespace"), meta["name"]), patch, "json")
            return 0.0  # the parent changed: the next round syncs it
        hook = "finalize" if finalizing else "sync"
        request = {
            "controller": self.controller,
            "parent": parent,
            "children": children,
            "related": {},
            "finalizing": finalizing,
        }
        status, answer = http("POST", self.hooks[hook], request)
        unknown = set(answer) - RESPONSE_FIELDS if isinstance(answer, dict) else {"(not an object)"}
        if status != 200 or unknown:
            self.errors.append(
                {"parent": where, "hook": hook, "status": status, "unknown": sorted(unknown), "answer": answer}
            )
            return 1.0  # retried with (constant) backoff; nothing changed
        self.calls.append((hook, where))
        self._apply_children(parent, where, children, answer.get("children") or [])
        if answer.get("status") != parent.get("status"):
            updated = {**parent, "status": answer.get("status")}
            path = self._path(self.parent_rule, meta.get("namespace"), meta["name"]) + "/status"
            status, out = self.api("PUT", path, updated)
            if status != 200:  # e.g. 409: the parent changed meanwhile, and the next round sees it
                self.errors.append({"parent": where, "status-update": status, "answer": out})
        if finalizing and answer.get("finalized"):
            index = finalizers.index(self.finalizer)
            patch = [
                {"op": "test", "path": f"/metadata/finalizers/{index}", "value": self.finalizer},
                {"op": "remove", "path": f"/metadata/finalizers/{index}"},
            ]
            self.api("PATCH", self._path(self.parent_rule, meta.get("namespace"), meta["name"]), patch, "json")
        after = answer.get("resyncAfterSeconds")
        return min(self.resync_period, float(after)) if after else self.resync_period

    def _apply_children(self, parent: dict, where: str, observed: dict, desired: list[dict]) -> None:
        meta = parent["metadata"]
        namespace = meta.get("namespace")
        owner = {
            "apiVersion": parent["apiVersion"],
            "kind": parent["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        rules = {(r["apiVersion"], r["kind"]): r for r in self.child_rules}
        wanted = set()
        for child in desired:
            rule = rules.get((child.get("apiVersion"), child.get("kind")))
            if rule is None:
                self.errors.append({"parent": where, "error": f"not a child rule: {child.get('kind')}"})
                continue
            name = child["metadata"]["name"]
            wanted.add((rule["key"], f"{namespace}/{name}"))
            applied = json.dumps(child, sort_keys=True)
            current = observed[rule["key"]].get(f"{namespace}/{name}")
            if current is None:
                obj = json.loads(applied)
                obj["metadata"]["namespace"] = namespace
                obj["metadata"]["ownerReferences"] = [owner]
                if self.controller["spec"].get("generateSelector"):
                    obj["metadata"].setdefault("labels", {})["controller-uid"] = meta["uid"]
                obj["metadata"].setdefault("annotations", {})[LAST_APPLIED] = applied
                status, out = self.api("POST", self._path(rule, namespace), obj)
                if status not in (200, 201):
                    self.errors.append({"parent": where, "create": name, "status": status, "answer": out})
                continue
            last = current["metadata"].get("annotations", {}).get(LAST_APPLIED)
            if rule["method"] == "OnDelete" or (last and json.loads(last) == child):
                continue  # no change in the desired form: no write
            patch = merge_patch(json.loads(last) if last else {}, child)
            patch.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = applied
            status, out = self.api("PATCH", self._path(rule, namespace, name), patch, "merge")
            if status != 200:
                self.errors.append({"parent": where, "update": name, "status": status, "answer": out})
        for key, objects in observed.items():
            for ns_name, child in objects.items():
                if (key, ns_name) not in wanted and not child["metadata"].get("deletionTimestamp"):
                    rule = next(r for r in self.child_rules if r["key"] == key)
                    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
                    self.api("DELETE", self._path(rule, namespace, child["metadata"]["name"]), body)


def merge_patch(last: Any, desired: Any) -> Any:
    """JSON merge patch from the last-applied form to the desired one (removed keys -> null)."""
    if not (isinstance(last, dict) and isinstance(desired, dict)):
        return desired
    patch = {key: None for key in last if key not in desired}
    for key, value in desired.items():
        if key not in last:
            patch[key] = value
        elif last[key] != value:
            patch[key] = merge_patch(last[key], value)
    return patch
