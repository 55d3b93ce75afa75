"""Fake sshd workers for the probe benchmark: one listening socket per loopback address
127.20.{index // 256}.{index % 256}, all served by one epoll loop in this process.

    python -m bench.ssh_listeners --workers 4096 --port 22022 [--silent-every 10]

Worker i stays silent (accepts, never sends a banner) when i % silent-every == 0.
Prints "ready" once every socket listens; exits when stdin closes."""

import argparse
import resource
import selectors
import socket
import sys

BANNER = b"SSH-2.0-OpenSSH_9.2p1 mpifn-bench\r\n"
TEMPLATE = "127.20.{index_hi}.{index_lo}"


def address(index: int) -> str:
    return TEMPLATE.format(index_hi=index // 256, index_lo=index % 256)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--silent-every", type=int, default=0)
    args = parser.parse_args()
    if not 0 < args.workers <= 4096:
        sys.exit("--workers: 1..4096")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    selector = selectors.DefaultSelector()
    for index in range(args.workers):
        server = socket.create_server((address(index), args.port), backlog=64)
        server.setblocking(False)
        silent = args.silent_every > 0 and index % args.silent_every == 0
        selector.register(server, selectors.EVENT_READ, ("listen", silent))
    selector.register(sys.stdin, selectors.EVENT_READ, ("stdin", False))
    print("ready", flush=True)
    while True:
        for key, _ in selector.select(timeout=1.0):
            role, silent = key.data
            if role == "stdin":
                if not sys.stdin.readline():
                    return
                continue
            if role == "listen":
                try:
                    client, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                client.setblocking(False)
                if not silent:
                    try:
                        client.send(BANNER)
                    except OSError:
                        client.close()
                        continue
                selector.register(client, selectors.EVENT_READ, ("client", silent))
            else:  # a client spoke or hung up: sshd would wait for its banner; we just drain
                try:
                    data = key.fileobj.recv(4096)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
