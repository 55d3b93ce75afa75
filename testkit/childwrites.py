"""The stand-in's writes: the children a parent controls, created, updated (InPlace) and
deleted to match the hook's answer; the parent's finalizer and status, read fresh and
written again on a conflict."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

from testkit.apply import LAST_APPLIED, apply_update, last_applied_text
from testkit.hookcalls import HookError
from testkit.informers import Informers, ns_name


class ChildWrites(Informers):
    generate_selector: bool

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

    def _manage_children(self, parent: dict, observed: dict, desired: list[dict]) -> list[str]:
        errors: list[str] = []
        rules = {(r["apiVersion"], r["kind"]): r for r in self.child_rules}
        wanted: dict[str, dict[str, dict]] = {}
        for child in desired:
            rule = rules.get((child.get("apiVersion"), child.get("kind")))
            if rule is None:
                errors.append(f"{child.get('kind')} {child.get('apiVersion')} is not a child resource here")
                continue
            wanted.setdefault(rule["key"], {})[ns_name(child)] = child
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
            refs.append(controller_ref(parent))
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
                raise HookError(f"can't read {rule['kind']} {ns_name(obj)}: {status} {current}")
            if not change(current):
                return current
            status, out = self.api("PUT", path + subresource, current)
            if status == 200:
                return out
            if status == 404:
                return obj
            if status != 409:
                raise HookError(f"can't update {rule['kind']} {ns_name(obj)}{subresource}: {status} {out}")
            time.sleep(0.01)
        if ignore_conflict:
            return obj
        raise HookError(f"can't update {rule['kind']} {ns_name(obj)}{subresource}: conflict after 4 tries")


def controller_ref(parent: dict) -> dict:
    meta = parent["metadata"]
    return {
        "apiVersion": parent["apiVersion"],
        "kind": parent["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def adding(finalizer: str) -> Callable[[dict], bool]:
    def change(obj: dict) -> bool:
        finalizers = obj["metadata"].setdefault("finalizers", [])
        if finalizer in finalizers:
            return False
        finalizers.append(finalizer)
        return True

    return change


def removing(finalizer: str) -> Callable[[dict], bool]:
    def change(obj: dict) -> bool:
        finalizers = obj["metadata"].get("finalizers", [])
        if finalizer not in finalizers:
            return False
        finalizers.remove(finalizer)
        return True

    return change
