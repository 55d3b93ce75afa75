"""How each function's image serves it: functions-framework's gunicorn, with the threads
the function's entry point asks for (endpoints.server_defaults)."""

import os
import subprocess
import sys

import pytest

from bench.jobs import steady_request_bytes
from mpifn.endpoints import COMPUTE_ONLY, FUNCTION_NAMES, server_defaults
from tests.conftest import ROOT

# What the image's CMD (functions-framework --source main.py) builds before it serves.
SERVER_OF_ENTRY_POINT = """
import sys
import functions_framework
from functions_framework._http.gunicorn import GunicornApplication

app = functions_framework.create_app(target=sys.argv[1], source=sys.argv[2])
server = GunicornApplication(app, "127.0.0.1", 0, False)
print(server.cfg.threads, server.cfg.worker_class_str)
"""


def server_of(function: str, environ: dict[str, str]) -> tuple[int, str]:
    source = ROOT / "functions" / function / "main.py"
    done = subprocess.run(
        [sys.executable, "-c", SERVER_OF_ENTRY_POINT, function, str(source)],
        env={**environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    threads, worker = done.stdout.split()
    return int(threads), worker


def without_threads() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != "THREADS"}


def test_compute_only_functions_default_to_one_thread_and_an_explicit_setting_wins():
    for function in FUNCTION_NAMES:
        environ: dict[str, str] = {}
        server_defaults(function, environ)
        assert environ == ({"THREADS": "1"} if function in COMPUTE_ONLY else {}), function
    explicit = {"THREADS": "4"}
    server_defaults("sync", explicit)
    assert explicit == {"THREADS": "4"}


@pytest.mark.parametrize("function", FUNCTION_NAMES)
def test_the_image_serves_each_function_with_the_threads_it_asks_for(function):
    threads, worker = server_of(function, without_threads())
    if function in COMPUTE_ONLY:
        assert (threads, worker) == (1, "sync"), "sync and finalize: one thread, gunicorn's plain worker"
    else:
        assert threads > 1 and worker == "gthread", "the probe waits on the network: functions-framework's threads"


def test_threads_set_for_the_deployment_still_win():
    assert server_of("sync", {**without_threads(), "THREADS": "3"}) == (3, "gthread")


# Modules a steady sync has no use for, kept out of its cold start (BENCHMARKS.md 2d, 2f):
# the locale tables of the first strptime, podtemplate's regeneration command, the full
# JSON Schema validator (only invalid input is explained with it), the key pair library
# (only a new job gets keys) and the probe.
SPARED_AT_COLD_START = ("_strptime", "argparse", "subprocess", "jsonschema", "cryptography", "mpifn.probe")

FIRST_STEADY_SYNC = """
import sys
import functions_framework

app = functions_framework.create_app(target="sync", source=sys.argv[1])
reply = app.test_client().post("/", data=sys.stdin.buffer.read(), headers={"Content-Type": "application/json"})
print(reply.status_code, *sorted(set(sys.argv[2:]) & set(sys.modules)))
"""


def test_a_fresh_sync_function_answers_a_steady_sync_without_importing_what_it_does_not_use():
    done = subprocess.run(
        [sys.executable, "-c", FIRST_STEADY_SYNC, str(ROOT / "functions" / "sync" / "main.py"), *SPARED_AT_COLD_START],
        input=steady_request_bytes(4),
        env={**without_threads(), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["200"], "imported on a steady sync: " + done.stdout.decode()
