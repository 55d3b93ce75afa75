"""Fixtures shared by the unit and HTTP tests."""

import copy
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mpifn.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def hello() -> dict[str, Any]:
    return copy.deepcopy(load_yaml(EXAMPLES / "hello.yaml"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    def __init__(self, base_url: str, log: Path) -> None:
        self.base_url = base_url
        self.log = log

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
    server = Server(f"http://127.0.0.1:{port}", log)
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


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("server"), {"MPIFN_WORKER_HOST_TEMPLATE": "127.0.30.{index}"}) as running:
        yield running


@pytest.fixture(scope="session")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """A server with its own environment (limits, auth), for tests that need one."""

    def start(env: dict[str, str]) -> Any:
        return serve(tmp_path_factory.mktemp("server"), env)

    return start
