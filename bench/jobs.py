"""Steady-state sync requests: an MPIJob whose children exist and whose workers are ready."""

import json
from datetime import UTC, datetime
from typing import Any

from mpifn.settings import Settings
from testkit import calls
from testkit.metacontroller import as_observed, hook_request, with_status

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def mpijob(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "mpifn.dev/v1",
        "kind": "MPIJob",
        "metadata": {"name": "bench", "namespace": "default", "generation": 1, "uid": "uid-bench"},
        "spec": {
            "replicas": replicas,
            "slotsPerWorker": 2,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "mpi",
                            "image": "mpifn/mpibase:0.1.0",
                            "command": ["mpirun"],
                            "args": ["-n", str(2 * replicas), "hostname"],
                        }
                    ]
                }
            },
        },
    }


def steady_request(replicas: int, settings: Settings | None = None) -> dict[str, Any]:
    """The request of a resync with nothing changed: every child observed as last applied,
    all workers ready, the launcher running, the status the previous sync wrote."""
    settings = settings or Settings()
    parent = mpijob(replicas)
    first = calls.sync(hook_request(parent), settings=settings, now=NOW)
    children = as_observed(first["children"])
    children = with_status(
        children, "StatefulSet", {"replicas": replicas, "readyReplicas": replicas, "currentReplicas": replicas}
    )
    children = with_status(children, "Job", {"active": 1, "ready": 1})
    parent["status"] = first["status"]
    parent["status"] = calls.sync(hook_request(parent, children), settings=settings, now=NOW)["status"]
    return hook_request(parent, children)


def steady_request_bytes(replicas: int) -> bytes:
    return json.dumps(steady_request(replicas), separators=(",", ":")).encode()
