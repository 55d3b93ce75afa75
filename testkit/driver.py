"""Who drives the hooks in the cluster suites: the real Metacontroller or the stand-in.

One switch: ``MPIFN_METACONTROLLER_BIN`` names a Metacontroller binary (and
``MPIFN_METACONTROLLER_MANIFESTS`` its release's CRD manifest, or a folder
holding it); then the binary runs against the test cluster with Metacontroller's
own CRDs installed and the shipped CompositeController applied. Otherwise the
stand-in (testkit/hookdriver.py) follows the same CompositeController.

Either way the hooks are reached through :class:`HookProxy`, a small recording
proxy in front of the functions: what tests read about hook calls and hook
errors comes from it, the same for both drivers, and it injects faults
(error answers, Retry-After, slow answers) for the fault scenarios.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from testkit.server import free_port

BINARY_ENV = "MPIFN_METACONTROLLER_BIN"
MANIFESTS_ENV = "MPIFN_METACONTROLLER_MANIFESTS"
APPLY_STRATEGY_ENV = "MPIFN_METACONTROLLER_APPLY_STRATEGY"
# The README's recommendation (server-side apply: no last-applied copy in each child, and
# unchanged children are not applied again); dynamic-apply is Metacontroller's own default.
APPLY_STRATEGIES = ("server-side-apply", "dynamic-apply")
RESPONSE_FIELDS = {"status", "children", "resyncAfterSeconds", "finalized"}  # a v2 answer decodes strictly
CUSTOMIZE_FIELDS = {"relatedResources"}
HOOK_TIMEOUT = 30.0  # the proxy's own limit; each hook's timeout is enforced by the driver


# --------------------------------------------------------------------------- the recording proxy


@dataclass
class Call:
    """One hook request as the proxy saw it."""

    hook: str  # "sync", "finalize", "customize"
    parent: str  # "namespace/name"
    status: int  # the HTTP status the driver got; 0: it took no answer (it had hung up)
    at: float  # time.monotonic() when the answer went back
    unknown: list[str] = field(default_factory=list)  # answer fields a v2 hook may not send
    request: dict = field(default_factory=dict, repr=False)
    answer: Any = field(default=None, repr=False)
    started: float = 0.0  # time.monotonic() when the request came in

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.unknown


@dataclass
class Fault:
    """What the proxy answers instead of the function, for the requests it matches.

    ``status`` 0 forwards the request (after ``delay``); any other status is
    answered by the proxy itself. ``parent`` ("namespace/name") and ``hook``
    narrow the match; ``until`` (monotonic) and ``times`` bound it.
    """

    status: int = 503
    parent: str | None = None
    hook: str | None = None
    until: float = math.inf
    times: int | None = None
    delay: float = 0.0
    retry_after: int | None = None
    hits: int = 0

    def matches(self, hook: str, parent: str, now: float) -> bool:
        return (
            now < self.until
            and (self.times is None or self.hits < self.times)
            and self.parent in (None, parent)
            and self.hook in (None, hook)
        )


class HookProxy:
    """A loopback HTTP proxy in front of the functions that records every hook call."""

    def __init__(self, upstream: str | dict[str, str]) -> None:
        """upstream: a loopback base URL each request's path is appended to; or
        {path prefix: base URL} (the functions' Services of the real-node suite): the
        request goes to the base URL of its longest prefix + the rest of its path."""
        routes = upstream if isinstance(upstream, dict) else {"": upstream}
        if isinstance(upstream, str) and not upstream.startswith("http://127.0.0.1:"):
            raise ValueError(f"the proxy only forwards to loopback, got {upstream}")
        self.upstream = str(upstream)
        self.routes = {prefix.rstrip("/"): base.rstrip("/") for prefix, base in routes.items()}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="hookproxy", daemon=True)

    def start(self) -> HookProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # -- what tests read -------------------------------------------------------

    def calls_for(self, parent: str, hook: str | None = None, ok: bool | None = None) -> list[Call]:
        with self._lock:
            found = list(self.calls)
        return [c for c in found if c.parent == parent and hook in (None, c.hook) and ok in (None, c.ok)]

    def errors_in(self, namespace: str) -> list[Call]:
        with self._lock:
            found = list(self.calls)
        return [c for c in found if c.parent.startswith(f"{namespace}/") and not c.ok]

    @contextlib.contextmanager
    def fault(self, fault: Fault) -> Iterator[Fault]:
        with self._lock:
            self.faults.append(fault)
        try:
            yield fault
        finally:
            with self._lock:
                self.faults.remove(fault)

    # -- serving ---------------------------------------------------------------

    def _fault_for(self, hook: str, parent: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(hook, parent, time.monotonic()):
                    fault.hits += 1
                    return fault
        return None

    def _target(self, path: str) -> str:
        for prefix in sorted(self.routes, key=len, reverse=True):
            if path == prefix or path.startswith(prefix + "/"):
                return self.routes[prefix] + (path[len(prefix) :] or "/")
        raise ValueError(f"no route for {path} (routes: {sorted(self.routes)})")

    def _forward(self, path: str, body: bytes, authorization: str | None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if authorization:  # the hook's bearer token goes on to the function
            headers["Authorization"] = authorization
        try:
            request = urllib.request.Request(self._target(path), data=body, method="POST", headers=headers)
            with urllib.request.urlopen(request, timeout=HOOK_TIMEOUT) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except ValueError as exc:  # no route: what a gateway answers for an unknown function
            return 404, json.dumps({"error": str(exc)}).encode()
        except OSError as exc:  # the functions are down: what a gateway answers
            return 502, json.dumps({"error": f"upstream {self.upstream}: {exc}"}).encode()

    def _record(self, hook: str, request: dict, status: int, answer: bytes, started: float) -> None:
        meta = request.get("parent", {}).get("metadata", {}) if isinstance(request, dict) else {}
        parent = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        try:
            parsed = json.loads(answer)
        except ValueError:
            parsed = answer.decode(errors="replace")
        unknown: list[str] = []
        if status == 200:
            allowed = CUSTOMIZE_FIELDS if hook == "customize" else RESPONSE_FIELDS
            unknown = sorted(set(parsed) - allowed) if isinstance(parsed, dict) else ["(not an object)"]
        with self._lock:
            self.calls.append(Call(hook, parent, status, time.monotonic(), unknown, request, parsed, started))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                started = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    request = json.loads(body)
                except ValueError:
                    request = {}
                hook = self.path.rstrip("/").rsplit("/", 1)[-1]
                meta = request.get("parent", {}).get("metadata", {}) if isinstance(request, dict) else {}
                fault = proxy._fault_for(hook, f"{meta.get('namespace', '')}/{meta.get('name', '')}")
                headers: dict[str, str] = {}
                if fault is not None and fault.delay:
                    time.sleep(fault.delay)
                if fault is None or fault.status == 0:
                    status, answer = proxy._forward(self.path, body, self.headers.get("Authorization"))
                else:
                    status, answer = fault.status, json.dumps({"error": f"injected {fault.status}"}).encode()
                    if fault.retry_after is not None:
                        headers["Retry-After"] = str(fault.retry_after)
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the driver gave up (its hook timeout): it saw no answer
                    status = 0
                proxy._record(hook, request, status, answer, started)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .calls
                pass

        return Handler


# --------------------------------------------------------------------------- what a stop of the driver leaves

# Go's context.Canceled. A stopping Metacontroller cancels the syncs in flight: each ends with
# this error and is recorded as a SyncError event, though no hook failed.
CANCELLED = "context canceled"


@dataclass(frozen=True)
class Shutdown:
    """One stop of the driver, from the signal until it was gone: monotonic bounds (hook calls
    carry them) and wall-clock ones (events carry those, to the second)."""

    began: float
    ended: float
    began_wall: float
    ended_wall: float


def cut_off_call(call: Call, shutdowns: list[Shutdown]) -> bool:
    """A hook call the driver hung up on because it was stopping: in flight when a stop began,
    its answer taken by no one."""
    return call.status == 0 and any(call.started <= stop.ended and call.at >= stop.began for stop in shutdowns)


def _event_times(event: dict) -> list[float]:
    stamps = [event.get(name) for name in ("firstTimestamp", "lastTimestamp", "eventTime")]
    return [datetime.fromisoformat(stamp).timestamp() for stamp in stamps if isinstance(stamp, str) and stamp]


def cancelled_by_shutdown(event: dict, shutdowns: list[Shutdown]) -> bool:
    """A SyncError event of a sync the driver's own stop cut off: its error is "context
    canceled" and it was recorded (every time of it) while the driver was stopping. A
    hook failure, or a cancellation at any other time, is not one."""
    times = _event_times(event)
    # Event times are cut to the second: a second of slack either side.
    during = [any(stop.began_wall - 1 <= moment <= stop.ended_wall + 1 for stop in shutdowns) for moment in times]
    return CANCELLED in str(event.get("message", "")) and bool(times) and all(during)


# --------------------------------------------------------------------------- the switch


class TestCluster(Protocol):
    """What a driver needs from a test cluster (testkit/cluster.Cluster has it)."""

    server: str
    token: str
    kubeconfig: Path | None

    def apply(self, *objects: dict, namespace: str | None = None) -> Any: ...
    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120) -> Any: ...
    def wait_crds_established(self, names: list[str], timeout: float = 60) -> None: ...
    def wait_for(self, check: Any, what: str, timeout: float = 60, interval: float = 0.5) -> Any: ...
    def spawn_extra(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Any: ...
    def stop_extra(self, proc: Any) -> None: ...


@dataclass(frozen=True)
class RealMetacontroller:
    binary: Path
    manifests: Path
    apply_strategy: str = APPLY_STRATEGIES[0]


def real_metacontroller() -> RealMetacontroller | None:
    """The real Metacontroller named by the environment, or None for the stand-in.

    Raises ValueError with what to fix when the switch is set but unusable.
    """
    value = os.environ.get(BINARY_ENV, "").strip()
    if not value:
        return None
    binary = Path(value)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise ValueError(f"{BINARY_ENV}={value}: not an executable file; give the path of a Metacontroller binary")
    manifests_value = os.environ.get(MANIFESTS_ENV, "").strip()
    if not manifests_value:
        raise ValueError(
            f"{BINARY_ENV} is set but {MANIFESTS_ENV} is not: give the CRD manifest of the same Metacontroller"
            " release (manifests/production/metacontroller-crds-v1.yaml of its source, or that folder)"
        )
    manifests = Path(manifests_value)
    if not manifests.exists():
        raise ValueError(f"{MANIFESTS_ENV}={manifests_value}: no such file or folder")
    strategy = os.environ.get(APPLY_STRATEGY_ENV, "").strip() or APPLY_STRATEGIES[0]
    if strategy not in APPLY_STRATEGIES:
        raise ValueError(f"{APPLY_STRATEGY_ENV}={strategy}: must be one of {', '.join(APPLY_STRATEGIES)}")
    return RealMetacontroller(binary, manifests, strategy)


def metacontroller_crds(manifests: Path) -> list[dict]:
    """Every CustomResourceDefinition of Metacontroller's own API in a file or folder of manifests."""
    import yaml

    files = sorted(manifests.rglob("*.y*ml")) if manifests.is_dir() else [manifests]
    crds = [
        doc
        for path in files
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict)
        and doc.get("kind") == "CustomResourceDefinition"
        and doc.get("spec", {}).get("group") == "metacontroller.k8s.io"
    ]
    unique = {crd["metadata"]["name"]: crd for crd in crds}
    if "compositecontrollers.metacontroller.k8s.io" not in unique:
        raise ValueError(f"{manifests}: no CompositeController CRD among {sorted(unique) or 'no CRDs'}")
    return list(unique.values())


def with_test_settings(controller: dict, resync_seconds: int | None) -> dict:
    """The shipped CompositeController with the tests' resync period (its hook URLs already
    local); None keeps it as shipped, without one."""
    spec = {key: value for key, value in controller["spec"].items() if key != "resyncPeriodSeconds"}
    if resync_seconds is not None:
        spec["resyncPeriodSeconds"] = resync_seconds
    return {**controller, "spec": spec}


class Driver:
    """The hook driver a suite runs with: the same reading surface for both kinds.

    `controllers` are the shipped CompositeControllers, the MPIJob controller first (its
    finalizer is the one tests read), then the explain controller."""

    def __init__(
        self,
        cluster: TestCluster,
        controllers: list[dict],
        proxy: HookProxy,
        resync_seconds: int | None,
        flags: tuple[str, ...] = (),
        installed: bool = False,
    ) -> None:
        """`flags` go to the real binary (e.g. -cache-flush-interval=1m); the stand-in has none.
        `installed`: the controllers are in the cluster already, as an installer (Helm) put
        them there; the real binary follows those and nothing is applied over them."""
        self.cluster, self.shipped, self.proxy = cluster, controllers, proxy
        self.resync_seconds, self.flags, self.installed = resync_seconds, flags, installed
        self.real = real_metacontroller()
        self.kind = (
            f"Metacontroller ({self.real.binary.name}, {self.real.apply_strategy})"
            if self.real
            else "the stand-in (hookdriver.py)"
        )
        self.finalizer = f"metacontroller.io/compositecontroller-{controllers[0]['metadata']['name']}"
        self._binary: Any = None
        self._stand_ins: list[Any] = []
        self.shutdowns: list[Shutdown] = []
        if self.real:
            crds = metacontroller_crds(self.real.manifests)
            cluster.apply(*crds)
            cluster.wait_crds_established([c["metadata"]["name"] for c in crds])

    # -- lifecycle -------------------------------------------------------------

    def start(self, resync_seconds: int | None = None) -> Driver:
        controllers = [with_test_settings(c, resync_seconds or self.resync_seconds) for c in self.shipped]
        if self.real:
            if not self.installed:
                self.cluster.apply(*controllers)
            self._binary = self._start_binary(self.real)
        else:
            from testkit.hookdriver import HookDriver

            self._stand_ins = [HookDriver(self.cluster, c).start() for c in controllers]  # type: ignore[arg-type]
        return self

    def stop(self) -> None:
        """Stop it, and remember when: what the stop cut off is no hook failure (errors())."""
        began, began_wall = time.monotonic(), time.time()
        if self._binary is not None:
            self.cluster.stop_extra(self._binary)
        for stand_in in self._stand_ins:
            stand_in.stop()
        self._binary, self._stand_ins = None, []
        self.shutdowns.append(Shutdown(began, time.monotonic(), began_wall, time.time()))

    def restart(self, resync_seconds: int | None = None) -> None:
        """Stop and start again with nothing carried over (caches, queues, backoff)."""
        self.stop()
        self.start(resync_seconds)

    @contextlib.contextmanager
    def also(self, controller: dict, parents: str) -> Iterator[None]:
        """Drives one more shipped CompositeController (an API Component's, hooks already
        local) in the block: the real Metacontroller takes it up from the cluster, the stand-in
        gets one more HookDriver. On the way out its parents (`parents`, e.g.
        mpijobs.kubeflow.org) are deleted in every namespace while it still runs, so that its
        finalize hook lets them go."""
        settled = with_test_settings(controller, self.resync_seconds)
        stand_in: Any = None
        if self.real:
            self.cluster.apply(settled)
        else:
            from testkit.hookdriver import HookDriver

            stand_in = HookDriver(self.cluster, settled).start()  # type: ignore[arg-type]
        try:
            yield
        finally:
            try:
                self.cluster.kubectl("delete", parents, "--all", "--all-namespaces", "--wait=true")
            finally:
                if stand_in is not None:
                    stand_in.stop()
                else:
                    name = controller["metadata"]["name"]
                    self.cluster.kubectl("delete", "compositecontroller", name, "--ignore-not-found", "--wait=true")

    def alive(self) -> bool:
        if self.real:
            return self._binary is not None and bool(self._binary.running())
        return bool(self._stand_ins) and all(stand_in.alive() for stand_in in self._stand_ins)

    def log_tail(self, lines: int = 20) -> list[str]:
        """The driver's own last words: the binary's log, or what the stand-ins would have logged."""
        if self._binary is not None:
            return list(self._binary.log_tail(lines).splitlines())
        return [line for stand_in in self._stand_ins for line in stand_in.log[-lines:]]

    def _start_binary(self, release: RealMetacontroller) -> Any:
        health = free_port()
        argv = [
            str(release.binary),
            "-discovery-interval=2s",
            f"-metrics-address=127.0.0.1:{free_port()}",
            f"-health-probe-bind-address=127.0.0.1:{health}",
            "-pprof-address=0",
            "-zap-log-level=4",
            f"-apply-strategy={release.apply_strategy}",
            *self.flags,
        ]
        env = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)}
        proc = self.cluster.spawn_extra("metacontroller", argv, env=env)

        def ready() -> bool:
            proc.check_alive()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2) as answer:
                    return bool(answer.status == 200)
            except OSError:
                return False

        self.cluster.wait_for(ready, "Metacontroller /readyz", timeout=60)
        return proc

    # -- what tests read ---------------------------------------------------------

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(hook, "namespace/name") of every hook call answered 200 with a valid body."""
        return [(c.hook, c.parent) for c in list(self.proxy.calls) if c.ok]

    def errors(self, namespace: str) -> list[str]:
        """Failed hook calls for parents in the namespace, and the SyncError events there; not
        the calls and syncs that a stop of the driver cut off (cut_off())."""
        failed = [
            f"{c.hook} {c.parent}: HTTP {c.status} {c.answer!s:.300}"
            for c in self.proxy.errors_in(namespace)
            if not cut_off_call(c, self.shutdowns)
        ]
        return failed + self.sync_errors(namespace)

    def sync_errors(self, namespace: str, name: str | None = None) -> list[str]:
        """The SyncError events of the namespace (of one parent if named), but for syncs a stop
        of the driver cancelled."""
        return [
            _said(e) for e in self._sync_error_events(namespace, name) if not cancelled_by_shutdown(e, self.shutdowns)
        ]

    def cut_off(self, namespace: str) -> list[str]:
        """What stops of the driver cut off in the namespace: hook calls hung up on, SyncError
        events of cancelled syncs."""
        calls = [f"{c.hook} {c.parent}" for c in self.proxy.errors_in(namespace) if cut_off_call(c, self.shutdowns)]
        events = [e for e in self._sync_error_events(namespace, None) if cancelled_by_shutdown(e, self.shutdowns)]
        return calls + [_said(e) for e in events]

    def _sync_error_events(self, namespace: str, name: str | None) -> list[dict]:
        events = self.cluster.kubectl("get", "events", "-n", namespace, "-o", "json").get("items", [])
        return [e for e in events if e.get("reason") == "SyncError" and name in (None, e["involvedObject"].get("name"))]

    def good_syncs(self, parent: str) -> int:
        """How many sync calls of the parent ("namespace/name") were answered with a valid answer."""
        return len(self.proxy.calls_for(parent, "sync", ok=True))

    def wait_syncs(self, parent: str, count: int, timeout: float = 60) -> None:
        """Wait until `count` more syncs of the parent than now were answered: resyncs, or
        syncs for changes. Each starts after the one before it has written what it asked for."""
        wanted = self.good_syncs(parent) + count
        self.cluster.wait_for(lambda: self.good_syncs(parent) >= wanted, f"{count} more syncs of {parent}", timeout)


def _said(event: dict) -> str:
    return f"{event['involvedObject'].get('name')}: {event.get('message')}"
