"""`python -m mpifn.serve` started as `make run` starts it, for tests, soak and benchmarks."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    def __init__(self, base_url: str, log: Path, pid: int) -> None:
        self.base_url = base_url
        self.log = log
        self.pid = pid

    def url(self, function: str) -> str:
        return f"{self.base_url}/function/{function}"


@contextmanager
def serve(tmp_dir: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`python -m mpifn.serve` on a free loopback port, as `make run` starts it."""
    port = free_port()
    log = tmp_dir / f"server-{port}.log"
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mpifn.serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=ROOT,
        )
    server = Server(f"http://127.0.0.1:{port}", log, process.pid)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mpifn.serve exited with {process.returncode}: {log.read_text()}")
            try:
                if requests.get(f"{server.base_url}/_/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mpifn.serve did not answer /_/health within 30 s: {log.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
