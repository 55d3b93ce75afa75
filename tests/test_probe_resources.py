"""What the probe shares across requests and gives back after each: the open-file limit,
raised once when the probe starts; one bounded resolver pool, whose threads a DNS outage
cannot multiply; and every socket a request opened, closed whatever went wrong."""

import errno
import gc
import os
import resource
import selectors
import socket
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from mpifn.keys import FileKeys
from mpifn.probe import Prober, parse_probe_request
from mpifn.settings import Settings
from testkit.server import free_port

NOW = 1.8e9


def request(replicas: int, port: int, timeout: float = 0.3) -> Any:
    body = {"namespace": "default", "name": "hello", "replicas": replicas, "sshPort": port, "timeoutSeconds": timeout}
    return parse_probe_request(body, Settings())


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def soft_open_file_limit(soft: int) -> Iterator[int]:
    """The soft limit lowered to `soft` (below the hard one), restored afterwards."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = before[1]
    assert hard == resource.RLIM_INFINITY or hard > soft, f"the hard open-file limit {hard} leaves no room below"
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_the_open_file_limit_is_raised_when_the_probe_starts_and_not_per_request():
    port = free_port()  # nothing listens: every worker is refused at once
    with soft_open_file_limit(1024) as hard:
        if hard == resource.RLIM_INFINITY:
            pytest.fail("the hard open-file limit is unlimited here: nothing to raise it to")
        prober = Prober()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
        assert prober.budget == min(8192, hard - 128)
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        settings = Settings(worker_host_template="127.0.42.{index}")
        report = prober.probe(request(2, port), settings, FileKeys(), NOW)
        assert [w.reason for w in report.workers] == ["refused", "refused"]
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 1024  # the request left it alone
        prober.close()


class Outage:
    """A resolver that hangs, as one does while its DNS server does not answer, until released."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        with self.lock:
            self.calls += 1
        self.released.wait(timeout=30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


def resolver_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("probe-dns")]


def test_a_dns_outage_ties_up_at_most_the_shared_pools_threads_however_many_requests():
    outage = Outage()
    before = len(resolver_threads())
    prober = Prober(resolve=outage, dns_threads=4)
    settings = Settings(worker_host_template="w{index}.{job}.example")  # names, never literals
    try:
        for _ in range(3):
            report = prober.probe(request(8, free_port(), timeout=0.1), settings, FileKeys(), NOW)
            assert {w.reason for w in report.workers} == {"timeout"}  # no answer within the deadline
        assert len(resolver_threads()) - before <= 4
        # Lookups not started by a request's deadline were cancelled: only the stuck ones ran.
        assert outage.calls == 4
    finally:
        outage.released.set()
        prober.close()


def test_a_socket_whose_connect_raises_is_closed():
    def malformed(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host,))]  # no port: connect raises TypeError

    prober = Prober(resolve=malformed)
    settings = Settings(worker_host_template="w{index}.example")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(TypeError):
            prober.probe(request(3, free_port()), settings, FileKeys(), NOW)
        gc.collect()  # a socket nobody closed is closed here, with a ResourceWarning
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    prober.close()


class FullSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """A selector that cannot take another socket (epoll's ENOSPC: max_user_watches reached)."""

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_socket_the_selector_refuses_is_closed_and_its_worker_answered():
    prober = Prober(selector=FullSelector)
    settings = Settings(worker_host_template="127.0.43.{index}")
    opened = open_files()
    report = prober.probe(request(3, free_port()), settings, FileKeys(), NOW)
    assert open_files() == opened
    assert [w.reason for w in report.workers] == ["error"] * 3
    assert "No space left on device" in report.workers[0].detail
    prober.close()
