"""Which workers of a job answer SSH: concurrent DNS, TCP and banner checks under one
deadline. The only module that opens sockets, and only to hosts derived from the job."""

import asyncio
import ipaddress
import resource
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from mpifn import schema
from mpifn.errors import RequestError
from mpifn.flavours import flavour
from mpifn.settings import Settings
from mpifn.validation import problems, validator

JsonObject = dict[str, Any]
BANNER_LIMIT = 255
DNS_THREADS = 64


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
        ssh_port=body.get("sshPort", 2222),
        mpi_implementation=body.get("mpiImplementation", "OpenMPI"),
        # The default never exceeds the operator's limit (MPIFN_MAX_PROBE_TIMEOUT_SECONDS).
        timeout_seconds=float(body.get("timeoutSeconds", min(5, settings.max_probe_timeout_seconds))),
    )


def worker_hosts(request: ProbeRequest, template: str) -> list[str]:
    """Host name of every worker. Besides {job}, {namespace} and {index} the template may use
    {index_hi} and {index_lo} (index // 256 and index % 256), so that thousands of workers can
    map to addresses such as 127.20.{index_hi}.{index_lo} on loopback."""
    return [
        template.format(
            job=request.name, namespace=request.namespace, index=index, index_hi=index // 256, index_lo=index % 256
        )
        for index in range(request.replicas)
    ]


def probe(request: ProbeRequest, settings: Settings) -> ProbeReport:
    hosts = worker_hosts(request, settings.worker_host_template)
    return asyncio.run(_probe_all(request, hosts))


async def _probe_all(request: ProbeRequest, hosts: list[str]) -> ProbeReport:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + request.timeout_seconds
    gate = asyncio.Semaphore(_socket_budget())
    resolver = ThreadPoolExecutor(max_workers=min(DNS_THREADS, len(hosts)), thread_name_prefix="probe-dns")
    try:
        tasks = [
            asyncio.create_task(_probe_one(index, host, request.ssh_port, gate, resolver))
            for index, host in enumerate(hosts)
        ]
        await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
        answers = []
        for index, (host, task) in enumerate(zip(hosts, tasks, strict=True)):
            if task.done():
                answers.append(task.result())
            else:
                task.cancel()
                answers.append(
                    WorkerAnswer(index, host, "", "timeout", f"no SSH banner within {request.timeout_seconds:g}s")
                )
        await asyncio.gather(*tasks, return_exceptions=True)
        return ProbeReport(request, answers)
    finally:
        # A resolver stuck on a slow DNS server must not hold the answer past the deadline.
        resolver.shutdown(wait=False, cancel_futures=True)


async def _probe_one(
    index: int, host: str, port: int, gate: asyncio.Semaphore, resolver: ThreadPoolExecutor
) -> WorkerAnswer:
    try:
        address = await _resolve(host, port, resolver)
    except (OSError, UnicodeError) as error:  # UnicodeError: a name no resolver could encode
        return WorkerAnswer(index, host, "", "no-dns", str(error))
    async with gate:
        try:
            reader, writer = await asyncio.open_connection(address, port)
        except ConnectionRefusedError:
            return WorkerAnswer(index, host, address, "refused", f"connection refused on port {port}")
        except OSError as error:
            return WorkerAnswer(index, host, address, "error", f"connect to port {port}: {error}")
        try:
            banner = await reader.readline()
        except (OSError, asyncio.LimitOverrunError, ValueError) as error:
            return WorkerAnswer(index, host, address, "error", f"reading the banner: {error}")
        finally:
            writer.close()
    if banner.startswith(b"SSH-2.0-") or banner.startswith(b"SSH-1.99-"):
        return WorkerAnswer(index, host, address, "", "")
    shown = banner[:BANNER_LIMIT].decode("ascii", "replace").strip() or "closed without a banner"
    return WorkerAnswer(index, host, address, "not-ssh", f"port {port} answered {shown[:60]!r}")


async def _resolve(host: str, port: int, resolver: ThreadPoolExecutor) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.run_in_executor(resolver, lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    return str(infos[0][4][0])


def _socket_budget() -> int:
    """Connections in flight at once: what the open-file limit allows, with headroom."""
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
    request = report.request
    lines = [
        f"# mpifn probe {request.namespace}/{request.name}: {len(report.reachable)} of "
        f"{request.replicas} workers reachable, {request.min_replicas} needed"
    ]
    lines += [f"# unreachable {w.host}: {w.reason} ({w.detail})" for w in report.unreachable]
    return "\n".join(lines) + "\n" + report.hostfile
