"""The probe's socket loop: banners that arrive in pieces, names that resolve, many workers."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from mpifn.probe import parse_probe_request, report_json
from mpifn.settings import Settings
from testkit import calls
from testkit.server import free_port


@contextmanager
def greeter(address: str, port: int, pieces: list[bytes], pause: float = 0.05) -> Iterator[None]:
    """Accepts on (address, port) and sends each piece after `pause` seconds."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    server = socket.create_server((address, port), family=family)
    server.settimeout(0.2)
    stopping = threading.Event()
    clients: list[socket.socket] = []

    def serve() -> None:
        while not stopping.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            clients.append(client)
            for piece in pieces:
                time.sleep(pause)
                client.sendall(piece)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(timeout=5)
        for client in clients:
            client.close()
        server.close()


def run(template: str, port: int, replicas: int = 1, timeout: float = 2) -> dict:
    settings = Settings(worker_host_template=template)
    body = {"namespace": "default", "name": "hello", "replicas": replicas, "sshPort": port, "timeoutSeconds": timeout}
    return report_json(calls.probe(parse_probe_request(body, settings), settings))


def test_a_banner_in_pieces_is_read_to_its_end_of_line():
    port = free_port()
    with greeter("127.0.41.1", port, [b"SSH-2.", b"0-OpenSSH_9.2\r\n"]):
        answer = run("127.0.41.1", port)
    assert answer["reachable"] == [{"index": 0, "host": "127.0.41.1", "address": "127.0.41.1"}]


def test_a_line_in_pieces_that_is_not_ssh_is_shown_whole():
    port = free_port()
    with greeter("127.0.41.2", port, [b"220 smtp", b".example ESMTP\r\n"]):
        answer = run("127.0.41.2", port)
    assert answer["unreachable"][0]["reason"] == "not-ssh"
    assert answer["unreachable"][0]["detail"] == f"port {port} answered '220 smtp.example ESMTP'"


def test_a_banner_without_end_of_line_is_judged_at_the_limit():
    port = free_port()
    with greeter("127.0.41.3", port, [b"x" * 300]):
        answer = run("127.0.41.3", port)
    assert answer["unreachable"][0]["reason"] == "not-ssh"
    assert answer["unreachable"][0]["detail"] == f"port {port} answered {'x' * 60!r}"


def test_a_host_name_is_resolved_and_its_address_reported():
    port = free_port()
    address = socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)[0][4][0]
    with greeter(address, port, [b"SSH-2.0-OpenSSH_9.2\r\n"], pause=0):
        answer = run("localhost", port)
    assert answer["reachable"] == [{"index": 0, "host": "localhost", "address": address}]


def test_many_refused_workers_answer_at_once():
    # Nothing listens on 127.0.42.*: every connection is refused, long before the deadline.
    started = time.monotonic()
    answer = run("127.0.42.{index_lo}", free_port(), replicas=256, timeout=5)
    assert time.monotonic() - started < 4
    assert [w["index"] for w in answer["unreachable"]] == list(range(256))
    assert {w["reason"] for w in answer["unreachable"]} == {"refused"}
