"""What Prometheus sees of MPIJobs: a kube-state-metrics CustomResourceState configuration.

mpifn's functions scale to zero and keep nothing between requests, so no process of mpifn
could be scraped for counters the way Kubeflow's operator is. kube-state-metrics reads the
MPIJobs themselves instead and exports, per job of every API, the series below (README,
Metrics). They are gauges over the objects that exist: a deleted job's series go with it,
where a counter would have kept it."""

import copy
from collections.abc import Sequence
from typing import Any

from mpifn.api import KIND
from mpifn.lifecycle import FAILED, PENDING, RUNNING, SUCCEEDED, SUSPENDED

# kube-state-metrics' metricNamePrefix: series are named mpifn_<metric name>; an Info metric's
# name ends with _info, as kube-state-metrics asks.
PREFIX = "mpifn"
PHASES = (PENDING, RUNNING, SUCCEEDED, FAILED, SUSPENDED)
# Every series names its job; kube-state-metrics adds customresource_group, _version and _kind.
JOB_LABELS = {"namespace": ["metadata", "namespace"], "mpijob": ["metadata", "name"]}


def _metric(name: str, help: str, kind: str, **each: Any) -> dict[str, Any]:
    key = kind[0].lower() + kind[1:]  # Gauge -> gauge, StateSet -> stateSet
    return {"name": name, "help": help, "each": {"type": kind, key: each}}


def _status_gauge(name: str, help: str, **gauge: Any) -> dict[str, Any]:
    """A gauge of a status field, which a job lacks before its first sync (completionTime:
    until it ends). kube-state-metrics then shows no series for it, and logs the missing path,
    which it takes for an error, only at verbosity 1 and above."""
    return {**_metric(name, help, "Gauge", **gauge), "errorLogV": 1}


def _condition_gauge(name: str, help: str, labels: dict[str, list[str]], value: str) -> dict[str, Any]:
    """One series per condition in status.conditions (Created, WorkersReady, Running,
    Succeeded, Failed, Suspended: mpifn.status.CONDITION_TYPES)."""
    return _status_gauge(name, help, path=["status", "conditions"], labelsFromPath=labels, valueFrom=[value])


METRICS: list[dict[str, Any]] = [
    _metric(
        "mpijob_info",
        "The MPIJob exists (1); its uid and MPI implementation.",
        "Info",
        labelsFromPath={"uid": ["metadata", "uid"], "mpi_implementation": ["spec", "mpiImplementation"]},
    ),
    _metric(
        "mpijob_created", "When the MPIJob was created (Unix seconds).", "Gauge", path=["metadata", "creationTimestamp"]
    ),
    _metric(
        "mpijob_status_phase",
        "The MPIJob's phase: 1 for the one it is in, 0 for the others.",
        "StateSet",
        labelName="phase",
        path=["status", "phase"],
        list=list(PHASES),
    ),
    _metric(
        "mpijob_status_reason_info",
        "Why the MPIJob is in its phase (1): status.phase and status.reason.",
        "Info",
        labelsFromPath={"phase": ["status", "phase"], "reason": ["status", "reason"]},
    ),
    _status_gauge(
        "mpijob_status_workers_desired", "Workers the MPIJob asks for.", path=["status", "workers", "desired"]
    ),
    _status_gauge("mpijob_status_workers_ready", "Workers ready.", path=["status", "workers", "ready"]),
    _condition_gauge(
        "mpijob_status_condition",
        "Whether the MPIJob's condition holds (1) or not (0), per condition type.",
        {"condition": ["type"]},
        "status",
    ),
    _condition_gauge(
        "mpijob_status_condition_last_transition_time",
        "When the MPIJob's condition last changed to its status (Unix seconds).",
        {"condition": ["type"], "status": ["status"]},
        "lastTransitionTime",
    ),
    _status_gauge("mpijob_status_start_time", "When the MPIJob started (Unix seconds).", path=["status", "startTime"]),
    _status_gauge(
        "mpijob_status_completion_time",
        "When the MPIJob succeeded or failed (Unix seconds).",
        path=["status", "completionTime"],
    ),
]


def state_metrics_config(apis: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The configuration for the MPIJobs of each (group, version); every API gives the same
    series, told apart by customresource_group. kube-state-metrics skips an API whose CRD is
    not installed and takes it up once it is."""
    return {
        "kind": "CustomResourceStateMetrics",
        "spec": {
            "resources": [
                {
                    "groupVersionKind": {"group": group, "version": version, "kind": KIND},
                    "metricNamePrefix": PREFIX,
                    # copies: the configuration is written out as YAML, which would alias shared objects
                    "labelsFromPath": copy.deepcopy(JOB_LABELS),
                    "metrics": copy.deepcopy(METRICS),
                }
                for group, version in apis
            ]
        },
    }


def series_names() -> list[str]:
    """The names of the series a scrape shows (README, Metrics)."""
    return [f"{PREFIX}_{metric['name']}" for metric in METRICS]
