"""Fixtures shared by the unit and HTTP tests."""

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpifn.settings import Settings
from testkit.server import Server, serve

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
