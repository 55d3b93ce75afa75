"""Which workers of a job answer SSH: concurrent DNS, TCP and banner checks under one
deadline. The only module that opens sockets, and only to hosts derived from the job.

A `Prober`, made once when the probe function starts, holds what requests share: the socket
budget the open-file limit allows (raised to its hard limit then, never per request) and one
bounded pool of resolver threads (a DNS outage ties up at most its threads, however many
requests come)."""

import errno
import ipaddress
import os
import resource
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from typing import Any

from mpifn import api, naming, probetext, schema, signing
from mpifn.errors import RequestError
from mpifn.flavours import flavour
from mpifn.keys import Keys
from mpifn.settings import Settings
from mpifn.signing import SignedJob
from mpifn.validation import problems, validator

JsonObject = dict[str, Any]
BANNER_LIMIT = 255
DNS_THREADS = 64
DNS_POLL_SECONDS = 0.005
CONNECT_BATCH = 256  # connections started between two looks at the selector


@dataclass(frozen=True)
class ProbeRequest:
    namespace: str
    name: str
    replicas: int
    min_replicas: int
    slots: int
    ssh_port: int
    mpi_implementation: str
    timeout_seconds: float
    uid: str = ""
    expires: int = 0
    signature: str = ""

    def signed_job(self) -> SignedJob:
        return SignedJob(
            namespace=self.namespace,
            name=self.name,
            uid=self.uid,
            replicas=self.replicas,
            min_replicas=self.min_replicas,
            slots=self.slots,
            ssh_port=self.ssh_port,
            expires=self.expires,
        )


@dataclass(frozen=True)
class WorkerAnswer:
    index: int
    host: str
    address: str
    reason: str  # "" when the worker answers SSH, else no-dns, refused, timeout, not-ssh, error
    detail: str


@dataclass(frozen=True)
class ProbeReport:
    request: ProbeRequest
    workers: list[WorkerAnswer]

    @property
    def reachable(self) -> list[WorkerAnswer]:
        return [w for w in self.workers if not w.reason]

    @property
    def unreachable(self) -> list[WorkerAnswer]:
        return [w for w in self.workers if w.reason]

    @property
    def enough(self) -> bool:
        return len(self.reachable) >= self.request.min_replicas

    @property
    def hostfile(self) -> str:
        return flavour(self.request.mpi_implementation).hostfile([w.host for w in self.reachable], self.request.slots)


@lru_cache(maxsize=1)
def _request_validator() -> Any:
    return validator(schema.PROBE_REQUEST)


def parse_probe_request(body: Any, settings: Settings) -> ProbeRequest:
    found = problems(_request_validator(), body, "probe")
    if not found:
        if body["replicas"] > settings.max_replicas:
            found.append(f"probe.replicas: must be at most {settings.max_replicas}, got {body['replicas']}")
        if body.get("minReplicas", 1) > body["replicas"]:
            found.append(
                f"probe.minReplicas: must be at most probe.replicas ({body['replicas']}), got {body['minReplicas']}"
            )
        if body.get("timeoutSeconds", 1) != body.get("timeoutSeconds", 1):  # NaN passes every schema bound
            found.append("probe.timeoutSeconds: must be a number, got NaN")
        elif body.get("timeoutSeconds", 0) > settings.max_probe_timeout_seconds:
            found.append(
                f"probe.timeoutSeconds: must be at most {settings.max_probe_timeout_seconds}, "
                f"got {body['timeoutSeconds']}"
            )
    if found:
        raise RequestError("; ".join(found))
    return ProbeRequest(
        namespace=body["namespace"],
        name=body["name"],
        replicas=body["replicas"],
        min_replicas=body.get("minReplicas", body["replicas"]),
        slots=body.get("slots", 1),
        ssh_port=body.get("sshPort", api.DEFAULT_SSH_PORT),
        mpi_implementation=body.get("mpiImplementation", "OpenMPI"),
        # The default never exceeds the operator's limit (MPIFN_MAX_PROBE_TIMEOUT_SECONDS).
        timeout_seconds=float(body.get("timeoutSeconds", min(5, settings.max_probe_timeout_seconds))),
        uid=body.get("uid", ""),
        expires=body.get("expires", 0),
        signature=body.get("signature", ""),
    )


def worker_hosts(request: ProbeRequest, template: str) -> list[str]:
    """Host name of every worker (naming.worker_hosts)."""
    return naming.worker_hosts(template, request.name, request.namespace, request.replicas)


Resolve = Callable[..., list[tuple[Any, ...]]]  # socket.getaddrinfo's signature


class Prober:
    """The probe's shared resources: made once per process, used by every request."""

    def __init__(
        self,
        resolve: Resolve = socket.getaddrinfo,
        dns_threads: int = DNS_THREADS,
        selector: Callable[[], selectors.BaseSelector] = selectors.DefaultSelector,
    ) -> None:
        self.budget = raise_open_file_limit()
        self.resolve = resolve
        self.resolver = ThreadPoolExecutor(max_workers=dns_threads, thread_name_prefix="probe-dns")
        self.selector = selector

    def probe(self, request: ProbeRequest, settings: Settings, keys: Keys, now: float) -> ProbeReport:
        """Raises Forbidden, before any name is resolved or socket opened, when the probe has a
        key and the request's signature does not verify."""
        signing.check(request.signed_job(), request.signature, keys.accepted_keys(), now)
        return ProbeReport(request, self.contact(request, worker_hosts(request, settings.worker_host_template)))

    def contact(self, request: ProbeRequest, hosts: list[str]) -> list[WorkerAnswer]:
        """The one way to the network: each host's answer."""
        return _Probe(request, hosts, self).run()

    def close(self) -> None:
        self.resolver.shutdown(wait=False, cancel_futures=True)


class _Probe:
    """One selector loop over non-blocking sockets, all under one deadline: connect, wait
    until writable, check SO_ERROR, wait until readable, read the banner's first line (at
    most BANNER_LIMIT bytes). Host names are resolved in a bounded thread pool whose answers
    the loop collects; IP literals skip it. Nothing waits for a resolver past the deadline,
    and lookups of this request that have not started by then are cancelled."""

    def __init__(self, request: ProbeRequest, hosts: list[str], prober: Prober) -> None:
        self.port = request.ssh_port
        self.timeout = request.timeout_seconds
        self.hosts = hosts
        self.answers: list[WorkerAnswer | None] = [None] * len(hosts)
        self.addresses = [""] * len(hosts)
        self.remaining = len(hosts)
        self.ready: deque[tuple[int, str, Any, int]] = deque()  # resolved: index, address, sockaddr, family
        self.resolved: deque[tuple[int, Future[Any]]] = deque()  # filled by resolver threads
        self.prober = prober
        self.budget = prober.budget
        self.open = 0
        self.selector = prober.selector()
        self.partial: dict[int, bytes] = {}  # banners that arrived in pieces

    def run(self) -> list[WorkerAnswer]:
        deadline = time.monotonic() + self.timeout
        names: list[tuple[int, str]] = []
        for index, host in enumerate(self.hosts):
            literal = _literal(host)
            if literal is None:
                names.append((index, host))
            else:
                self.ready.append((index, literal[0], (literal[0], self.port), literal[1]))
        lookups: list[Future[Any]] = []
        unresolved = len(names)
        try:
            for index, host in names:
                future = self.prober.resolver.submit(self.prober.resolve, host, self.port, type=socket.SOCK_STREAM)
                future.add_done_callback(partial(_hand_over, self.resolved, index))
                lookups.append(future)
            while self.remaining:
                unresolved -= self._take_resolved()
                self._connect_ready()
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if self.ready and self.open < self.budget:
                    left = 0  # more to connect: only collect what is ready, then come back
                elif unresolved:
                    left = min(left, DNS_POLL_SECONDS)  # look for the resolvers' answers every few ms
                events = self.selector.select(left)
                for key, _mask in events:
                    if key.events == selectors.EVENT_WRITE:
                        self._connected(key.fileobj, key.data)  # type: ignore[arg-type]
                    else:
                        self._readable(key.fileobj, key.data)  # type: ignore[arg-type]
        finally:
            for key in list(self.selector.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            self.selector.close()
            # A lookup stuck on a slow DNS server must not hold the answer past the deadline,
            # nor one not started yet hold a thread of the shared pool after it.
            for future in lookups:
                future.cancel()
        late = f"no SSH banner within {self.timeout:g}s"
        return [
            answer if answer is not None else WorkerAnswer(index, self.hosts[index], "", "timeout", late)
            for index, answer in enumerate(self.answers)
        ]

    def _answer(self, index: int, address: str, reason: str, detail: str) -> None:
        self.answers[index] = WorkerAnswer(index, self.hosts[index], address, reason, detail)
        self.remaining -= 1

    def _take_resolved(self) -> int:
        taken = 0
        while self.resolved:
            index, future = self.resolved.popleft()
            taken += 1
            try:
                infos = future.result()
            except (OSError, UnicodeError) as error:  # UnicodeError: a name no resolver could encode
                self._answer(index, "", "no-dns", str(error))
                continue
            family, _type, _proto, _name, sockaddr = infos[0]
            self.ready.append((index, str(sockaddr[0]), sockaddr, family))
        return taken

    def _connect_ready(self) -> None:
        port, selector = self.port, self.selector
        for _ in range(min(CONNECT_BATCH, self.budget - self.open)):
            if not self.ready:
                return
            index, address, sockaddr, family = self.ready.popleft()
            self.addresses[index] = address
            try:
                connection = socket.socket(family, socket.SOCK_STREAM)
            except OSError as error:
                self._answer(index, address, "error", f"connect to port {port}: {error}")
                continue
            try:
                connection.setblocking(False)
                code = connection.connect_ex(sockaddr)
                if code == 0 or code == errno.EINPROGRESS:
                    selector.register(connection, selectors.EVENT_WRITE, index)
                    self.open += 1
                    continue
            except OSError as error:
                connection.close()
                self._answer(index, address, "error", f"connect to port {port}: {error}")
                continue
            except BaseException:
                connection.close()  # only the selector's sockets are closed at the end
                raise
            connection.close()
            self._failed(index, address, code)

    def _failed(self, index: int, address: str, code: int) -> None:
        if code == errno.ECONNREFUSED:
            self._answer(index, address, "refused", f"connection refused on port {self.port}")
        else:
            error = OSError(code, os.strerror(code))
            self._answer(index, address, "error", f"connect to port {self.port}: {error}")

    def _close(self, connection: socket.socket) -> None:
        self.selector.unregister(connection)
        connection.close()
        self.open -= 1

    def _connected(self, connection: socket.socket, index: int) -> None:
        code = connection.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code == 0:
            self.selector.modify(connection, selectors.EVENT_READ, index)
            return
        self._close(connection)
        self._failed(index, self.addresses[index], code)

    def _readable(self, connection: socket.socket, index: int) -> None:
        before = self.partial.pop(index, b"")
        try:
            chunk = connection.recv(BANNER_LIMIT - len(before))
        except BlockingIOError:
            if before:
                self.partial[index] = before
            return
        except OSError as error:
            self._close(connection)
            self._answer(index, self.addresses[index], "error", f"reading the banner: {error}")
            return
        banner = before + chunk
        end = banner.find(b"\n")
        if end >= 0:
            banner = banner[: end + 1]
        elif chunk and len(banner) < BANNER_LIMIT:
            self.partial[index] = banner
            return
        self._close(connection)
        address = self.addresses[index]
        if banner.startswith(b"SSH-2.0-") or banner.startswith(b"SSH-1.99-"):
            self._answer(index, address, "", "")
            return
        shown = banner.decode("ascii", "replace").strip() or "closed without a banner"
        self._answer(index, address, "not-ssh", f"port {self.port} answered {shown[:60]!r}")


def _hand_over(resolved: deque[tuple[int, Future[Any]]], index: int, future: Future[Any]) -> None:
    resolved.append((index, future))  # deque.append is atomic: safe from the resolver's threads


def _literal(host: str) -> tuple[str, int] | None:
    """(address, family) when the host is an IP address literal, else None."""
    try:
        socket.inet_pton(socket.AF_INET, host)  # strict dotted quad: already in canonical form
        return host, socket.AF_INET
    except (OSError, ValueError):
        pass
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return str(address), socket.AF_INET if address.version == 4 else socket.AF_INET6


def raise_open_file_limit() -> int:
    """Raise the open-file limit to its hard limit; the connections a probe may have in
    flight at once, with headroom."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and hard != resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return max(16, min(8192, soft - 128))


def report_json(report: ProbeReport) -> JsonObject:
    job = asdict(report.request)
    return {
        "job": {
            "namespace": job["namespace"],
            "name": job["name"],
            "replicas": job["replicas"],
            "minReplicas": job["min_replicas"],
            "slots": job["slots"],
            "sshPort": job["ssh_port"],
            "mpiImplementation": job["mpi_implementation"],
            "timeoutSeconds": job["timeout_seconds"],
        },
        "reachable": [{"index": w.index, "host": w.host, "address": w.address} for w in report.reachable],
        "unreachable": [
            {"index": w.index, "host": w.host, "reason": w.reason, "detail": w.detail} for w in report.unreachable
        ],
        "hostfile": report.hostfile,
        "enough": report.enough,
    }


def report_text(report: ProbeReport) -> str:
    """The answer to ?format=text (mpifn.probetext)."""
    request = report.request
    return probetext.probe_answer(
        request.namespace,
        request.name,
        request.replicas,
        request.min_replicas,
        len(report.reachable),
        [(w.host, w.reason, w.detail) for w in report.unreachable],
        report.hostfile,
    )
