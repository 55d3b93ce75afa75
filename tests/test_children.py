"""Every child an MPIJob becomes: exact shape of the key parts, schema-valid, within name rules."""

import base64
import copy
import itertools

import kubernetes_validate
import pytest

from mpifn import naming
from mpifn.children.workers import WORKER_ENTRYPOINT
from mpifn.spec import parse_job
from testkit import calls
from testkit.metacontroller import hook_request
from tests.conftest import FIXTURES, load_yaml
from tests.support.kubernetes import name_rule_problems, validate_strict


def children_of(parent):
    return {(c["kind"], c["metadata"]["name"]): c for c in calls.sync(hook_request(parent))["children"]}


def test_an_mpijob_becomes_five_children(hello):
    assert sorted(children_of(hello)) == [
        ("ConfigMap", "hello-config"),
        ("Job", "hello-launcher"),
        ("Secret", "hello-ssh"),
        ("Service", "hello-worker"),
        ("StatefulSet", "hello-worker"),
    ]


def test_headless_service_publishes_unready_workers(hello):
    service = children_of(hello)[("Service", "hello-worker")]
    assert service["spec"] == {
        "clusterIP": "None",
        "publishNotReadyAddresses": True,
        "selector": {"mpifn.dev/job-name": "hello", "mpifn.dev/role": "worker"},
        "ports": [{"name": "ssh", "port": 2222, "targetPort": 2222}],
    }


def test_workers_run_sshd_in_parallel_and_are_never_rolled(hello):
    statefulset = children_of(hello)[("StatefulSet", "hello-worker")]["spec"]
    assert statefulset["replicas"] == 2
    assert statefulset["podManagementPolicy"] == "Parallel"
    assert statefulset["updateStrategy"] == {"type": "OnDelete"}
    assert statefulset["serviceName"] == "hello-worker"
    container = statefulset["template"]["spec"]["containers"][0]
    assert container["command"] == [WORKER_ENTRYPOINT]
    assert "args" not in container
    assert {"name": "MPIFN_SSH_PORT", "value": "2222"} in container["env"]
    assert container["readinessProbe"]["tcpSocket"] == {"port": 2222}
    assert "affinity" not in statefulset["template"]["spec"]


def test_daemons_put_one_worker_per_node(hello):
    hello["spec"]["daemons"] = True
    pod = children_of(hello)[("StatefulSet", "hello-worker")]["spec"]["template"]["spec"]
    assert pod["affinity"] == {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"mpifn.dev/job-name": "hello", "mpifn.dev/role": "worker"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }


def test_launcher_keeps_the_users_command_and_asks_the_probe_first(hello):
    job = children_of(hello)[("Job", "hello-launcher")]["spec"]
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert job["suspend"] is False and job["backoffLimit"] == 0
    main = pod["containers"][0]
    assert (main["command"], main["args"]) == (["mpirun"], ["-n", "4", "hostname"])
    env = {item["name"]: item["value"] for item in main["env"]}
    assert env["OMPI_MCA_orte_default_hostfile"] == env["PRTE_MCA_prte_default_hostfile"] == "/etc/mpi/hostfile"
    assert env["OMPI_MCA_plm_rsh_args"] == env["PRTE_MCA_plm_ssh_args"] == "-F /etc/mpi/config/ssh_config"
    init = pod["initContainers"][0]
    init_env = {item["name"]: item["value"] for item in init["env"]}
    assert init["command"] == ["/usr/local/bin/mpifn-launcher-init"]
    assert init_env["MPIFN_PROBE_URL"] == "http://gateway.openfaas:8080/function/probe"
    assert (init_env["MPIFN_REPLICAS"], init_env["MPIFN_MIN_REPLICAS"], init_env["MPIFN_SLOTS"]) == ("2", "2", "2")


@pytest.mark.parametrize(
    ("implementation", "line", "variable"),
    [
        ("OpenMPI", "hello-worker-0.hello-worker.default.svc slots=2", "OMPI_MCA_orte_default_hostfile"),
        ("MPICH", "hello-worker-0.hello-worker.default.svc:2", "HYDRA_HOST_FILE"),
        ("IntelMPI", "hello-worker-0.hello-worker.default.svc:2", "I_MPI_HYDRA_HOST_FILE"),
    ],
)
def test_hostfile_and_environment_follow_the_mpi_flavour(hello, implementation, line, variable):
    hello["spec"]["mpiImplementation"] = implementation
    children = children_of(hello)
    assert children[("ConfigMap", "hello-config")]["data"]["hostfile"].splitlines()[0] == line
    env = children[("Job", "hello-launcher")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": variable, "value": "/etc/mpi/hostfile"} in env


def test_ssh_secret_holds_an_openssh_key_pair(hello):
    secret = children_of(hello)[("Secret", "hello-ssh")]
    assert secret["type"] == "kubernetes.io/ssh-auth"
    private = base64.b64decode(secret["data"]["ssh-privatekey"]).decode()
    public = base64.b64decode(secret["data"]["ssh-publickey"]).decode()
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.startswith("ssh-ed25519 ")


def test_users_own_environment_wins_over_ours(hello):
    hello["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "OMPI_MCA_plm_rsh_args", "value": "-p 22"}]
    env = children_of(hello)[("Job", "hello-launcher")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["value"] for e in env if e["name"] == "OMPI_MCA_plm_rsh_args"] == ["-p 22"]


def _spread():
    base = load_yaml(FIXTURES.parent.parent / "examples" / "hello.yaml")
    variants = itertools.product(
        [1, 7, 64],
        [False, True],
        ["OpenMPI", "MPICH", "IntelMPI"],
        ["hello", "a" * naming.MAX_JOB_NAME],
    )
    for replicas, daemons, implementation, name in variants:
        parent = copy.deepcopy(base)
        parent["metadata"]["name"] = name
        parent["spec"].update({"replicas": replicas, "daemons": daemons, "mpiImplementation": implementation})
        parent["spec"].pop("minReplicas", None)
        yield pytest.param(parent, id=f"{replicas}-{daemons}-{implementation}-{len(name)}")
    for fixture in ("seed-replicas.yaml", "seed-daemons.yaml"):
        yield pytest.param(load_yaml(FIXTURES / fixture), id=fixture)


@pytest.mark.parametrize("parent", list(_spread()))
def test_every_child_passes_strict_schema_and_name_rules(parent, settings):
    job = parse_job(parent, settings)
    for child in calls.sync(hook_request(parent))["children"]:
        validate_strict(child)
        assert name_rule_problems(child, job.replicas) == []


def test_the_strict_check_catches_a_misspelled_field(hello):
    statefulset = children_of(hello)[("StatefulSet", "hello-worker")]
    statefulset["spec"]["podManagmentPolicy"] = "Parallel"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strict(statefulset)
