"""Fake workers on loopback: an sshd-like banner, a non-SSH service, a silent listener."""

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 mpifn-test\r\n"
HTTP_BANNER = b"HTTP/1.1 400 Bad Request\r\n\r\n"


class Listener:
    """Accepts on (address, port), greets each client with `greeting` and hangs up;
    with greeting None it holds every connection open and says nothing."""

    def __init__(self, address: str, port: int, greeting: bytes | None) -> None:
        self.socket = socket.create_server((address, port), backlog=512)
        self.socket.settimeout(0.2)
        self.greeting = greeting
        self.clients: list[socket.socket] = []
        self.accepted = 0  # connections taken, whatever happened next
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            if self.greeting is None:
                self.clients.append(client)  # held open, never answered
                continue
            with client, contextlib.suppress(OSError):
                client.sendall(self.greeting)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        for client in self.clients:
            client.close()
        self.socket.close()


@contextmanager
def listening(*specs: tuple[str, int, bytes | None]) -> Iterator[list[Listener]]:
    listeners: list[Listener] = []
    try:
        for address, port, greeting in specs:
            listeners.append(Listener(address, port, greeting))
        yield listeners
    finally:
        for listener in listeners:
            listener.close()
