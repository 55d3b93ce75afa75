"""STAND-IN for Metacontroller's CompositeController loop (v4.17.2), for the cluster suites.

CI has no Metacontroller binary (the project carries no recipe to build one),
so this driver plays its part; with MPIFN_METACONTROLLER_BIN set the suites
run the real binary instead (testkit/driver.py). It follows the shipped
CompositeController (parentResource, childResources and their updateStrategy,
generateSelector, resyncPeriodSeconds, v2 sync and finalize hooks with their
timeouts) and does what the real controller does where a user can see it:

- informers: a list and a watch per resource; a change of a parent, or of a
  child it controls, queues the parent; only parents are resynced, every
  resyncPeriodSeconds (whole seconds, at least 1);
- a work queue of parents (5 workers, a parent never in two at once): a failed
  sync is retried with growing delays (5 ms doubling, at most 1000 s) and
  recorded as a SyncError event on the parent; a hook's 429 is retried after
  its Retry-After, without an event; resyncAfterSeconds queues a parent again;
- the finalizer metacontroller.io/compositecontroller-<name> is added before
  the first hook call and removed when finalize answers finalized: true;
- hook answers other than 200, or with fields a v2 answer may not have, fail
  the sync: nothing changes;
- a hook's webhook.authorization (a Secret reference) is sent as a bearer
  token, read from the Secret at each call;
- desired children get the parent's namespace and (generateSelector) the
  controller-uid label, THEN their last-applied copy is taken; a missing child
  is created with a controller ownerReference; an existing one is merged
  (live object, last-applied, desired, as `kubectl apply` does) and updated
  (InPlace) whenever the merge differs from the live object, so edits by
  others to fields the hook sets are reverted; OnDelete children are never
  updated; observed children no longer desired are deleted (background);
- status.observedGeneration is set to the parent's generation, and the status
  is written only when it differs from a fresh read; a conflict is ignored;
- the customize hook (v2): {"controller", "parent"} is POSTed once per parent
  uid and generation (the answer is cached, as the real controller does); the
  first time a rule names a resource, an informer (list and watch) is started
  for it; the objects of each relatedResources rule (labelSelector with
  matchLabels/matchExpressions, names, namespace; every namespace without one)
  go to the hooks under "related", keyed like children; a change of a related
  object queues every parent whose cached rules select it; a customize call
  that fails fails the sync.

Not modelled: adoption and release of children by label selector, the
ControllerRevision rollout strategies, namespaceSelector in related rules, the
event rate limits.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import email.utils
import json
import math
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from functools import partial
from typing import Any

from mpifn import api
from testkit.cluster import Cluster
from testkit.loopback import INSECURE

LAST_APPLIED = api.LAST_APPLIED_ANNOTATION  # the real Metacontroller's name, in one place
RESPONSE_FIELDS = {"status", "children", "resyncAfterSeconds", "finalized"}  # v2 decodes strictly
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
WORKERS = 5
CACHE_FLUSH_SECONDS = 1800  # the resync of a parent whose controller sets no period
WATCH_SECONDS = 5  # each watch request ends after this long and is reopened (bounds stop())


def http(method: str, url: str, body: Any = None, token: str = "", content_type: str = "application/json", timeout=15):
    """(status, parsed JSON or text, headers) of a loopback request."""
    if not url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
        raise ValueError(f"refusing non-loopback URL {url}")
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=INSECURE if url.startswith("https") else None) as r:
            status, text, headers = r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        status, text, headers = exc.code, exc.read().decode(errors="replace"), dict(exc.headers)
    try:
        return status, json.loads(text), headers
    except ValueError:
        return status, text, headers


# --------------------------------------------------------------------------- pure parts


def resync_seconds(spec: dict) -> int:
    """The parents' resync period: whole seconds, at least 1; none set: the cache flush interval."""
    period = spec.get("resyncPeriodSeconds")
    return CACHE_FLUSH_SECONDS if period is None else max(1, int(period))


def backoff_seconds(failures: int) -> float:
    """Delay before retrying after the n-th failure in a row (client-go's default item limiter)."""
    return min(0.005 * 2 ** (failures - 1), 1000.0)


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


# --------------------------------------------------------------------------- the work queue


class WorkQueue:
    """Parents to sync, each due at a time; a key is handed to one worker at a time."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}
        self._busy: set[str] = set()
        self._failures: dict[str, int] = {}
        self._cond = threading.Condition()

    def add_after(self, key: str, delay: float = 0.0) -> None:
        with self._cond:
            due = time.monotonic() + max(0.0, delay)
            if key not in self._due or due < self._due[key]:
                self._due[key] = due
                self._cond.notify_all()

    def add_rate_limited(self, key: str) -> None:
        with self._cond:
            self._failures[key] = self._failures.get(key, 0) + 1
            delay = backoff_seconds(self._failures[key])
        self.add_after(key, delay)

    def forget(self, key: str) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def get(self, stop: threading.Event) -> str | None:
        with self._cond:
            while not stop.is_set():
                now = time.monotonic()
                ready = [(due, key) for key, due in self._due.items() if key not in self._busy]
                if ready:
                    due, key = min(ready)
                    if due <= now:
                        del self._due[key]
                        self._busy.add(key)
                        return key
                    self._cond.wait(min(due - now, 0.5))
                else:
                    self._cond.wait(0.5)
        return None

    def done(self, key: str) -> None:
        with self._cond:
            self._busy.discard(key)
            self._cond.notify_all()


class HookError(Exception):
    """A sync failed: retried with backoff and recorded as a SyncError event."""


class TooManyRequests(Exception):
    def __init__(self, after: int) -> None:
        super().__init__(f"Too many request, it will be resync after: {after}")
        self.after = after


# --------------------------------------------------------------------------- the driver


class HookDriver:
    def __init__(self, cluster: Cluster, controller: dict) -> None:
        self.cluster, self.controller = cluster, controller
        spec = controller["spec"]
        self.resync = resync_seconds(spec)
        self.generate_selector = bool(spec.get("generateSelector"))
        self.finalizer = f"metacontroller.io/compositecontroller-{controller['metadata']['name']}"
        self.hooks = {name: hook["webhook"] for name, hook in spec["hooks"].items()}
        if any(hook.get("version") != "v2" for hook in spec["hooks"].values()):
            raise ValueError("the stand-in drives v2 hooks only")
        self.parent_rule = self._rule(spec["parentResource"])
        self.child_rules = [self._rule(r) for r in spec["childResources"]]
        self.log: list[str] = []  # what the real controller would log as errors (for a failing test's output)
        self.queue = WorkQueue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, dict]] = {}  # rule key -> "namespace/name" -> object
        self._threads: list[threading.Thread] = []
        self._customized: dict[tuple[str, int], list[dict]] = {}  # (uid, generation) -> relatedResources
        self._related_rules: dict[tuple[str, str], dict] = {}  # (apiVersion, resource) -> informer rule

    # -- the API server ------------------------------------------------------

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

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> HookDriver:
        versions = {rule["key"]: self._first_list(rule) for rule in [self.parent_rule, *self.child_rules]}
        for rule in [self.parent_rule, *self.child_rules]:
            self._spawn(f"watch-{rule['plural']}", partial(self._watch, rule, versions[rule["key"]]))
        for index in range(WORKERS):
            self._spawn(f"worker-{index}", self._work)
        self._spawn("resync", self._resync)
        for key in list(self._cache[self.parent_rule["key"]]):
            self.queue.add_after(key)
        return self

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"hookdriver-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=WATCH_SECONDS + 20)

    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    # -- informers -------------------------------------------------------------

    def _list(self, rule: dict) -> str:
        status, out = self.api("GET", self._path(rule))
        if status != 200:
            raise RuntimeError(f"list {rule['plural']}: {status} {out}")
        objects = {}
        for obj in out["items"]:
            obj.setdefault("kind", rule["kind"])
            obj.setdefault("apiVersion", rule["apiVersion"])
            objects[_ns_name(obj)] = obj
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
                objects.pop(_ns_name(obj), None)
            else:
                objects[_ns_name(obj)] = obj
        self._enqueue_for(rule, obj)

    def _enqueue_for(self, rule: dict, obj: dict) -> None:
        """A parent's own change queues it; a child's change queues the parent controlling it;
        a related object's change queues every parent whose customize rules select it."""
        if rule is self.parent_rule:
            self.queue.add_after(_ns_name(obj))
            return
        if rule in self._related_rules.values():
            with self._lock:
                parents = list(self._cache[self.parent_rule["key"]].items())
                answers = dict(self._customized)
            for key, parent in parents:
                rules = answers.get((parent["metadata"]["uid"], int(parent["metadata"].get("generation") or 0)), [])
                if any(_related_rule_key(r) == (rule["apiVersion"], rule["plural"]) and selects(r, obj) for r in rules):
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

    # -- the workers -----------------------------------------------------------

    def _work(self) -> None:
        while (key := self.queue.get(self._stop)) is not None:
            parent = None
            try:
                with self._lock:
                    parent = copy.deepcopy(self._cache[self.parent_rule["key"]].get(key))
                if parent is not None:
                    self.sync_parent(parent)
                self.queue.forget(key)
            except TooManyRequests as exc:
                self.queue.add_after(key, exc.after)
            except Exception as exc:
                self._note(f"sync {key}: {exc}")
                if parent is not None:
                    self._sync_error_event(parent, f"Sync error: {exc}")
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    def _sync_error_event(self, parent: dict, message: str) -> None:
        meta = parent["metadata"]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta.get("namespace")},
            "involvedObject": {
                "apiVersion": parent["apiVersion"],
                "kind": parent["kind"],
                "name": meta["name"],
                "namespace": meta.get("namespace"),
                "uid": meta["uid"],
                "resourceVersion": meta["resourceVersion"],
            },
            "reason": "SyncError",
            "message": message[:1024],
            "type": "Warning",
            "source": {"component": "metacontroller"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        status, out = self.api("POST", f"/api/v1/namespaces/{meta.get('namespace')}/events", event)
        if status not in (200, 201):
            self._note(f"event for {_ns_name(parent)}: {status} {out}")

    def sync_parent(self, parent: dict) -> None:
        """One reconcile of one parent, in the real controller's order."""
        meta = parent["metadata"]
        key = _ns_name(parent)
        wants_finalizer = "finalize" in self.hooks and not meta.get("deletionTimestamp")
        if wants_finalizer and self.finalizer not in meta.get("finalizers", []):
            parent = self._atomic_update(self.parent_rule, parent, _adding(self.finalizer))
            meta = parent["metadata"]
        finalizing = bool(meta.get("deletionTimestamp"))
        observed = self._observed_children(parent)
        related = self._related(parent)
        hook = "finalize" if finalizing and "finalize" in self.hooks else "sync"
        answer = self._call_hook(hook, parent, observed, related)
        desired = answer.get("children") or []
        for child in desired:
            child.setdefault("metadata", {}).setdefault("namespace", meta.get("namespace"))
        if answer.get("resyncAfterSeconds"):
            self.queue.add_after(key, float(answer["resyncAfterSeconds"]))
        if answer.get("finalized"):
            parent = self._atomic_update(self.parent_rule, parent, _removing(self.finalizer))
        # children are managed while the parent lives, or while our finalizer holds it
        manage = not finalizing or self.finalizer in parent["metadata"].get("finalizers", [])
        if self.generate_selector:
            for child in desired:
                child["metadata"].setdefault("labels", {}).setdefault("controller-uid", meta["uid"])
        manage_errors = self._manage_children(parent, observed, desired) if manage else []
        self._update_status(parent, answer.get("status"))
        if manage_errors:
            raise HookError(f"can't reconcile children for {key}: {'; '.join(manage_errors)}")

    def _observed_children(self, parent: dict) -> dict[str, dict[str, dict]]:
        """Every child rule's objects controlled by the parent (and matching its generated selector)."""
        meta = parent["metadata"]

        def controlled(obj: dict) -> bool:
            child = obj["metadata"]
            refs = child.get("ownerReferences", [])
            return (
                child.get("namespace") == meta.get("namespace")
                and any(r.get("controller") and r["uid"] == meta["uid"] for r in refs)
                and (not self.generate_selector or child.get("labels", {}).get("controller-uid") == meta["uid"])
            )

        with self._lock:
            return {
                rule["key"]: {
                    name: copy.deepcopy(obj)
                    for name, obj in self._cache.get(rule["key"], {}).items()
                    if controlled(obj)
                }
                for rule in self.child_rules
            }

    # -- the customize hook ------------------------------------------------------

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
                    group[_ns_name(obj)] = copy.deepcopy(obj)
        return related

    def _related_informer(self, rule: dict) -> dict:
        """The informer of a related resource, started (listed, then watched) on first use."""
        which = _related_rule_key(rule)
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
        timeout = _duration_seconds(webhook.get("timeout", "10s"))
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

    def _manage_children(self, parent: dict, observed: dict, desired: list[dict]) -> list[str]:
        errors: list[str] = []
        rules = {(r["apiVersion"], r["kind"]): r for r in self.child_rules}
        wanted: dict[str, dict[str, dict]] = {}
        for child in desired:
            rule = rules.get((child.get("apiVersion"), child.get("kind")))
            if rule is None:
                errors.append(f"{child.get('kind')} {child.get('apiVersion')} is not a child resource here")
                continue
            wanted.setdefault(rule["key"], {})[_ns_name(child)] = child
        for rule in self.child_rules:
            for name, child in observed[rule["key"]].items():
                if name not in wanted.get(rule["key"], {}) and not child["metadata"].get("deletionTimestamp"):
                    errors += self._delete(rule, child)
        for rule in self.child_rules:
            for name, child in wanted.get(rule["key"], {}).items():
                live = observed[rule["key"]].get(name)
                errors += self._create(rule, parent, child) if live is None else self._update(rule, live, child)
        return errors

    def _delete(self, rule: dict, child: dict) -> list[str]:
        meta = child["metadata"]
        body = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": "Background",
            "preconditions": {"uid": meta["uid"]},
        }
        status, out = self.api("DELETE", self._path(rule, meta.get("namespace"), meta["name"]), body)
        return [] if status in (200, 202, 404) else [f"can't delete {rule['kind']} {meta['name']}: {status} {out}"]

    def _create(self, rule: dict, parent: dict, child: dict) -> list[str]:
        obj = copy.deepcopy(child)
        obj["metadata"].setdefault("annotations", {})[LAST_APPLIED] = last_applied_text(child)
        refs = obj["metadata"].setdefault("ownerReferences", [])
        if not any(r.get("uid") == parent["metadata"]["uid"] for r in refs):
            refs.append(_controller_ref(parent))
        status, out = self.api("POST", self._path(rule, obj["metadata"]["namespace"]), obj)
        if status in (200, 201, 409):  # 409: it exists already
            return []
        return [f"can't create {rule['kind']} {obj['metadata']['name']}: {status} {out}"]

    def _update(self, rule: dict, live: dict, child: dict) -> list[str]:
        merged = apply_update(live, child)
        if merged == live or live["metadata"].get("deletionTimestamp") or rule["method"] == "OnDelete":
            return []
        meta = live["metadata"]
        status, out = self.api("PUT", self._path(rule, meta.get("namespace"), meta["name"]), merged)
        return [] if status in (200, 404, 409) else [f"can't update {rule['kind']} {meta['name']}: {status} {out}"]

    def _update_status(self, parent: dict, status: dict | None) -> None:
        wanted = {**(status or {}), "observedGeneration": parent["metadata"].get("generation")}

        def set_status(obj: dict) -> bool:
            if obj.get("status") == wanted:
                return False
            obj["status"] = wanted
            return True

        self._atomic_update(self.parent_rule, parent, set_status, subresource="/status", ignore_conflict=True)

    def _atomic_update(
        self, rule: dict, obj: dict, change: Callable[[dict], bool], subresource: str = "", ignore_conflict=False
    ) -> dict:
        """Read fresh, change, write; again on a conflict (4 tries). Gone: the object as given."""
        meta = obj["metadata"]
        path = self._path(rule, meta.get("namespace"), meta["name"])
        for _ in range(4):
            status, current = self.api("GET", path)
            if status == 404 or (status == 200 and current["metadata"]["uid"] != meta["uid"]):
                return obj
            if status != 200:
                raise HookError(f"can't read {rule['kind']} {_ns_name(obj)}: {status} {current}")
            if not change(current):
                return current
            status, out = self.api("PUT", path + subresource, current)
            if status == 200:
                return out
            if status == 404:
                return obj
            if status != 409:
                raise HookError(f"can't update {rule['kind']} {_ns_name(obj)}{subresource}: {status} {out}")
            time.sleep(0.01)
        if ignore_conflict:
            return obj
        raise HookError(f"can't update {rule['kind']} {_ns_name(obj)}{subresource}: conflict after 4 tries")


def _related_rule_key(rule: dict) -> tuple[str, str]:
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


def _ns_name(obj: dict) -> str:
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def _controller_ref(parent: dict) -> dict:
    meta = parent["metadata"]
    return {
        "apiVersion": parent["apiVersion"],
        "kind": parent["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _adding(finalizer: str) -> Callable[[dict], bool]:
    def change(obj: dict) -> bool:
        finalizers = obj["metadata"].setdefault("finalizers", [])
        if finalizer in finalizers:
            return False
        finalizers.append(finalizer)
        return True

    return change


def _removing(finalizer: str) -> Callable[[dict], bool]:
    def change(obj: dict) -> bool:
        finalizers = obj["metadata"].get("finalizers", [])
        if finalizer not in finalizers:
            return False
        finalizers.remove(finalizer)
        return True

    return change


def _duration_seconds(text: str) -> float:
    """A Go duration of the form the CompositeController uses ("10s", "500ms", "1m")."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * units[unit]
    raise ValueError(f"webhook timeout {text!r}: expected a duration such as 10s")
