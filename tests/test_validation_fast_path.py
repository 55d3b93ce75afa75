"""The fast validity check never accepts what jsonschema rejects, and does accept valid specs."""

import pytest

from mpifn import schema
from mpifn.validation import _surely_valid, validator

CONTAINERS = {"spec": {"containers": [{"name": "mpi", "image": "x"}]}}
VALID_SPECS = [
    {"replicas": 2, "slotsPerWorker": 2, "template": CONTAINERS},
    {"replicas": 1, "daemons": True, "mpiImplementation": "MPICH", "sshPort": 65535, "template": CONTAINERS},
    {"replicas": 4, "runPolicy": {"cleanPodPolicy": "All", "backoffLimit": 0, "suspend": False}},
]
INVALID_SPECS = [
    {},
    {"replicas": 0},
    {"replicas": 2.0},
    {"replicas": True},
    {"replicas": "2"},
    {"replicas": 2, "sshPort": 65536},
    {"replicas": 2, "mpiImplementation": "openmpi"},
    {"replicas": 2, "mpiImplementation": 1},
    {"replicas": 2, "daemons": 1},
    {"replicas": 2, "template": []},
    {"replicas": 2, "runPolicy": {"cleanPodPolicy": "Some"}},
    {"replicas": 2, "runPolicy": {"activeDeadlineSeconds": 0}},
]
KUBEFLOW_ROLES = {"mpiReplicaSpecs": {"Launcher": {"template": CONTAINERS}, "Worker": {"template": CONTAINERS}}}
VALID_KUBEFLOW_SPECS = [
    KUBEFLOW_ROLES,
    {**KUBEFLOW_ROLES, "runLauncherAsWorker": True, "runPolicy": {"schedulingPolicy": {"queue": "q"}}},
    {**KUBEFLOW_ROLES, "runPolicy": {"managedBy": "kueue.x-k8s.io/multikueue", "suspend": False}},
]
INVALID_KUBEFLOW_SPECS = [
    {**KUBEFLOW_ROLES, "runLauncherAsWorker": "yes"},
    {**KUBEFLOW_ROLES, "runPolicy": {"schedulingPolicy": "gang"}},
    {**KUBEFLOW_ROLES, "runPolicy": {"managedBy": 1}},
]
VALID_PROBES = [{"namespace": "default", "name": "hello", "replicas": 3, "timeoutSeconds": 0.5}]
INVALID_PROBES = [
    {"namespace": "default", "name": "hello", "replicas": 3, "host": "10.0.0.1"},
    {"namespace": "Default", "name": "hello", "replicas": 3},
    {"namespace": "default", "name": "hello", "replicas": 3, "timeoutSeconds": 0},
    {"namespace": "default", "name": "hello", "replicas": 3, "timeoutSeconds": True},
    {"namespace": "default", "replicas": 3},
]


@pytest.mark.parametrize(
    ("root", "instance", "valid"),
    [(schema.SPEC, spec, True) for spec in VALID_SPECS]
    + [(schema.SPEC, spec, False) for spec in INVALID_SPECS]
    + [(schema.KUBEFLOW_SPEC, spec, True) for spec in VALID_KUBEFLOW_SPECS]
    + [(schema.KUBEFLOW_SPEC, spec, False) for spec in INVALID_KUBEFLOW_SPECS]
    + [(schema.PROBE_REQUEST, body, True) for body in VALID_PROBES]
    + [(schema.PROBE_REQUEST, body, False) for body in INVALID_PROBES],
)
def test_fast_check_agrees_with_jsonschema(root, instance, valid):
    full_errors = list(validator(root).iter_errors(instance))
    assert (not full_errors) is valid
    assert _surely_valid(root, instance) is valid
