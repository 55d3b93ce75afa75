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

import copy
import threading
import time
from collections.abc import Callable
from functools import partial

from testkit.childwrites import ChildWrites, adding, removing
from testkit.cluster import Cluster
from testkit.hookcalls import HookCalls, HookError, TooManyRequests
from testkit.informers import WATCH_SECONDS, ns_name
from testkit.workqueue import WorkQueue

WORKERS = 5
CACHE_FLUSH_SECONDS = 1800  # the resync of a parent whose controller sets no period


def resync_seconds(spec: dict) -> int:
    """The parents' resync period: whole seconds, at least 1; none set: the cache flush interval."""
    period = spec.get("resyncPeriodSeconds")
    return CACHE_FLUSH_SECONDS if period is None else max(1, int(period))


class HookDriver(HookCalls, ChildWrites):
    """One CompositeController's loop: informers (testkit.informers), hook calls
    (testkit.hookcalls) and child writes (testkit.childwrites), run by WORKERS threads."""

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
            self._note(f"event for {ns_name(parent)}: {status} {out}")

    def sync_parent(self, parent: dict) -> None:
        """One reconcile of one parent, in the real controller's order."""
        meta = parent["metadata"]
        key = ns_name(parent)
        wants_finalizer = "finalize" in self.hooks and not meta.get("deletionTimestamp")
        if wants_finalizer and self.finalizer not in meta.get("finalizers", []):
            parent = self._atomic_update(self.parent_rule, parent, adding(self.finalizer))
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
            parent = self._atomic_update(self.parent_rule, parent, removing(self.finalizer))
        # children are managed while the parent lives, or while our finalizer holds it
        manage = not finalizing or self.finalizer in parent["metadata"].get("finalizers", [])
        if self.generate_selector:
            for child in desired:
                child["metadata"].setdefault("labels", {}).setdefault("controller-uid", meta["uid"])
        manage_errors = self._manage_children(parent, observed, desired) if manage else []
        self._update_status(parent, answer.get("status"))
        if manage_errors:
            raise HookError(f"can't reconcile children for {key}: {'; '.join(manage_errors)}")
