"""Each fact several files share has one home in mpifn; every other place that states it is
held to that home here: the SSH port default, the registry and tag of the images, the worker
host template and the probe's text contract."""

import re

import pytest

from mpifn import api, naming, pods, probetext, schema
from mpifn.children.config import job_config
from mpifn.probe import ProbeReport, WorkerAnswer, parse_probe_request, report_text, worker_hosts
from mpifn.settings import DEFAULT_REGISTRY, DEFAULT_TAG, Settings
from mpifn.spec import parse_job
from tests.conftest import ROOT

IMAGE = ROOT / "images" / "mpibase"
INIT_SCRIPT = (IMAGE / "mpifn-launcher-init.sh").read_text()
PORT = api.DEFAULT_SSH_PORT


# --------------------------------------------------------------------------- the SSH port


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("images/mpibase/Dockerfile", r"ENV MPIFN_SSH_PORT=(\d+)"),
        ("images/mpibase/Dockerfile", r"EXPOSE (\d+)"),
        ("images/mpibase/mpifn-worker.sh", r'port="\$\{MPIFN_SSH_PORT:-(\d+)\}"'),
        ("images/mpibase/mpifn-launcher-init.sh", r'SSH_PORT="\$\{MPIFN_SSH_PORT:-(\d+)\}"'),
        ("images/mpibase/README.md", r"\| `MPIFN_SSH_PORT` \| (\d+) \|"),
        ("README.md", r"\| `sshPort` \| int \| (\d+) \|"),
    ],
)
def test_the_image_and_the_docs_default_to_the_operators_ssh_port(path, pattern):
    found = re.findall(pattern, (ROOT / path).read_text())
    assert found and {int(port) for port in found} == {PORT}, (path, found)


def test_every_api_and_the_probe_default_to_the_one_ssh_port(hello):
    hello["spec"].pop("sshPort", None)
    assert parse_job(hello, Settings()).ssh_port == PORT
    assert schema.SPEC["properties"]["sshPort"]["default"] == PORT
    probe = parse_probe_request({"namespace": "default", "name": "hello", "replicas": 1}, Settings())
    assert probe.ssh_port == PORT


# --------------------------------------------------------------------------- registry and tag

IMAGE_REFERENCE = re.compile(r"([\w.:-]+(?:/[\w.-]+)*)/(mpibase|sync|finalize|probe):([\w.-]+)")
EXAMPLE_REGISTRY = "registry.example.com/hpc"  # the docs' example of a registry of one's own


@pytest.mark.parametrize(
    "path",
    ["knative/functions.yaml", "plain/functions.yaml", "examples/user-image/Dockerfile", "README.md",
     "images/mpibase/README.md"],
)  # fmt: skip
def test_every_image_named_in_full_is_the_default_registry_and_tag(path):
    found = [match for match in IMAGE_REFERENCE.findall((ROOT / path).read_text()) if match[0] != EXAMPLE_REGISTRY]
    for registry, image, tag in found:
        assert (registry, tag) == (DEFAULT_REGISTRY, DEFAULT_TAG), (path, registry, image, tag)


@pytest.mark.parametrize(
    ("path", "registry", "tag"),
    [
        ("Makefile", r"^REGISTRY \?= (\S+)$", r"^TAG \?= (\S+)$"),
        ("scripts/images.sh", r'^REGISTRY="\$\{REGISTRY:-([^}]+)\}"$', r'^TAG="\$\{TAG:-([^}]+)\}"$'),
        ("stack.yml", r"\$\{REGISTRY:-([^}]+)\}", r"\$\{TAG:-([^}]+)\}"),
        ("stack.auth.yml", r"\$\{REGISTRY:-([^}]+)\}", r"\$\{TAG:-([^}]+)\}"),
    ],
)
def test_the_build_and_deploy_defaults_are_the_settings_defaults(path, registry, tag):
    text = (ROOT / path).read_text()
    registries, tags = re.findall(registry, text, re.M), re.findall(tag, text, re.M)
    assert registries and set(registries) == {DEFAULT_REGISTRY}, (path, registries)
    assert tags and set(tags) == {DEFAULT_TAG}, (path, tags)


# --------------------------------------------------------------------------- worker hosts


@pytest.mark.parametrize("template", [naming.WORKER_HOST_TEMPLATE, "127.20.{index_hi}.{index_lo}", "w{index}.{job}"])
def test_the_probe_and_the_proposed_hostfile_name_the_same_workers(hello, template):
    settings = Settings(worker_host_template=template)
    job = parse_job(hello, settings)
    request = parse_probe_request({"namespace": job.namespace, "name": job.name, "replicas": job.replicas}, settings)
    hostfile = job_config(job, settings)["data"]["hostfile"]
    assert [line.split()[0] for line in hostfile.splitlines()] == worker_hosts(request, settings.worker_host_template)


def test_the_default_worker_host_is_the_headless_services_name_of_the_pod():
    assert Settings().worker_host_template == naming.WORKER_HOST_TEMPLATE
    (host,) = naming.worker_hosts(naming.WORKER_HOST_TEMPLATE, "hello", "team-a", 1)
    assert host == f"{naming.worker_pod_name('hello', 0)}.{naming.worker_name('hello')}.team-a.svc"


# --------------------------------------------------------------------------- the probe's text


def test_the_probes_text_is_the_contracts_and_its_verdict_reads_back():
    request = parse_probe_request({"namespace": "ns", "name": "job", "replicas": 3, "minReplicas": 2}, Settings())
    workers = [
        WorkerAnswer(0, "job-worker-0.job-worker.ns.svc", "10.0.0.1", "", ""),
        WorkerAnswer(1, "job-worker-1.job-worker.ns.svc", "10.0.0.2", "refused", f"connection refused on port {PORT}"),
        WorkerAnswer(2, "job-worker-2.job-worker.ns.svc", "", "no-dns", "[Errno -2] Name or service not known"),
    ]
    text = report_text(ProbeReport(request, workers))
    assert text.splitlines() == [
        "# mpifn probe ns/job: 1 of 3 workers reachable, 2 needed",
        f"# unreachable job-worker-1.job-worker.ns.svc: refused (connection refused on port {PORT})",
        "# unreachable job-worker-2.job-worker.ns.svc: no-dns ([Errno -2] Name or service not known)",
        "job-worker-0.job-worker.ns.svc slots=1",
    ]
    # What the init script makes of it (its sed expressions, as Python), read back as the status does.
    summary = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith(probetext.SUMMARY_PREFIX))
    left_out = [line.removeprefix("# ") for line in text.splitlines() if line.startswith(probetext.UNREACHABLE_PREFIX)]
    verdict = probetext.read_verdict("\n".join([f"mpifn-init: too-few-workers: {summary}", *left_out]))
    assert verdict == probetext.InitVerdict(
        "too-few-workers",
        "1 of 3 workers reachable, 2 needed",
        (
            probetext.Unreachable("job-worker-1", "refused", f"connection refused on port {PORT}"),
            probetext.Unreachable("job-worker-2", "no-dns", "[Errno -2] Name or service not known"),
        ),
        0,
    )


@pytest.mark.parametrize(
    "expression",
    [
        f"s/^{probetext.SUMMARY_PREFIX}[^:]*: //p",  # the summary
        f"s/^{probetext.UNREACHABLE_PREFIX}//p",  # each worker left out, for the log
        f"s/^{probetext.UNREACHABLE_PREFIX}/unreachable /p",  # ... and for the verdict
        f"'^{probetext.UNREACHABLE_PREFIX}'",
        f"printf '{probetext.VERDICT_PREFIX}%s: %s\\n'",
        f"MAX_VERDICT_LINES={probetext.MAX_VERDICT_LINES} ",
    ],
)
def test_the_init_script_reads_and_writes_the_contracts_lines(expression):
    assert expression in INIT_SCRIPT


def test_the_init_script_writes_each_outcome_of_the_contract_and_the_status_knows_its_reasons():
    assert set(re.findall(r"^\s*verdict ([a-z-]+) ", INIT_SCRIPT, re.M)) == set(probetext.OUTCOMES)
    probe_source = (ROOT / "mpifn" / "probe.py").read_text()
    assert set(re.findall(r'self\._answer\(index, [a-z]+, "([a-z-]+)"', probe_source)) | {"timeout"} <= set(
        probetext.REASONS
    )
    assert set(pods.SSH_FIXES) <= set(probetext.REASONS)
