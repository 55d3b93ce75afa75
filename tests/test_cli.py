"""The command line as a user meets it: `mpifn --version` and `--help`, `mpifn render -` and
`kubectl get -o yaml` Lists, `mpifn manifests` and `mpifn overlay` refusing to write where they
should not, `mpifn dist` (one release manifest per deploy/ variant, with a stand-in kubectl;
tests/e2e_k8s/test_dist.py builds them with the real one), `make help`, `make dist`, and
`make run` (runtime dependencies only in a venv; a port already taken)."""

import importlib.metadata
import io
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from mpifn import cli
from mpifn.manifests import generated_manifests
from tests.conftest import EXAMPLES, ROOT, load_yaml


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`mpifn ARGV...` in this process: exit code, stdout, stderr."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exit_:  # --help, --version, usage errors
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- --version, --help


def test_version_is_the_projects(capsys):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert run_cli(capsys, "--version") == (0, f"mpifn {project['version']}\n", "")


def test_version_outside_a_checkout_is_the_installed_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.metadata, "version", lambda name: {"mpifn": "9.8.7"}[name])
    assert cli.version(tmp_path / "pyproject.toml") == "9.8.7"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\nversion = "1.0"\n')
    assert cli.version(tmp_path / "pyproject.toml") == "9.8.7"

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert cli.version(tmp_path / "pyproject.toml") == "unknown"


def test_help_gives_an_example_of_every_command_and_the_exit_codes(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    examples = out.split("examples:\n", 1)[1]
    for command in ("render", "manifests", "overlay", "dist"):
        assert f"  mpifn {command}" in examples, command
    exit_codes = [line.split()[0] for line in out.split("exit codes:\n", 1)[1].splitlines()]
    assert exit_codes == ["0", "1", "2"]


@pytest.mark.parametrize("command", ["render", "manifests", "overlay", "dist"])
def test_each_command_help_gives_an_example_and_the_exit_codes(capsys, command):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    examples = out.split("examples:\n", 1)[1].split("exit codes:\n", 1)
    assert f"mpifn {command}" in examples[0]
    assert "  0  " in examples[1] and "  2  " in examples[1]


def test_render_status_is_documented_as_the_status_of_a_new_job(capsys):
    _, out, _ = run_cli(capsys, "render", "--help")
    assert "status of a new job" in " ".join(out.split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "render --status j.yaml" not in readme  # once offered as a running job's status
    assert "the status of a new job, not the live status of a running one" in readme


# --------------------------------------------------------------------------- render: stdin, Lists


def live(job: dict, name: str) -> dict:
    """The job as `kubectl get -o yaml` prints it: server-set metadata and a status."""
    job = yaml.safe_load(yaml.safe_dump(job))
    job["metadata"].update(
        name=name,
        namespace="default",
        uid=f"6f1c1c2e-0000-4000-8000-{len(name):012d}",
        resourceVersion="4242",
        generation=1,
        creationTimestamp="2024-05-01T10:00:00Z",
        managedFields=[{"manager": "kubectl-client-side-apply", "operation": "Update"}],
    )
    job["status"] = {"phase": "Running", "startTime": "2024-05-01T10:00:01Z"}
    return job


def rendered_names(text: str) -> list[str]:
    return sorted(f"{doc['kind']}/{doc['metadata']['name']}" for doc in yaml.safe_load_all(text) if doc)


def test_render_dash_reads_stdin():
    result = subprocess.run(
        [sys.executable, "-m", "mpifn", "render", "-"],
        input=(EXAMPLES / "hello.yaml").read_text(),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert rendered_names(result.stdout) == rendered_names(cli.render(EXAMPLES / "hello.yaml", show_status=False))


@pytest.mark.parametrize(("api_version", "kind"), [("v1", "List"), ("mpifn.dev/v1", "MPIJobList")])
def test_render_accepts_what_kubectl_get_o_yaml_prints(capsys, monkeypatch, api_version, kind):
    hello = load_yaml(EXAMPLES / "hello.yaml")
    listed = {
        "apiVersion": api_version,
        "kind": kind,
        "items": [live(hello, "one"), live(hello, "two")],
        "metadata": {"resourceVersion": ""},
    }
    monkeypatch.setattr(sys, "stdin", io.StringIO(yaml.safe_dump(listed)))
    code, out, err = run_cli(capsys, "render", "--status", "-")
    assert (code, err) == (0, "")
    documents = [doc for doc in yaml.safe_load_all(out) if doc]
    names = {doc["metadata"]["name"] for doc in documents if "metadata" in doc}
    assert names == {f"{job}-{child}" for job in ("one", "two") for child in ("config", "launcher", "ssh", "worker")}
    assert sum("status" in doc and "kind" not in doc for doc in documents) == 2


def test_render_names_the_list_item_it_refuses(capsys, monkeypatch):
    hello = load_yaml(EXAMPLES / "hello.yaml")
    bad = live(hello, "two")
    bad["spec"]["replicas"] = 0
    listed = {"apiVersion": "v1", "kind": "List", "items": [live(hello, "one"), bad]}
    monkeypatch.setattr(sys, "stdin", io.StringIO(yaml.safe_dump(listed)))
    code, out, err = run_cli(capsys, "render", "-")
    assert (code, out) == (1, "")
    assert err == "mpifn render: stdin: document 1 item 2 (two): spec.replicas: must be >= 1, got 0\n"


def test_render_of_no_job_says_so(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("apiVersion: v1\nkind: List\nitems: []\n"))
    code, out, err = run_cli(capsys, "render", "-")
    assert (code, out) == (2, "")
    assert err.startswith("mpifn render: stdin: no MPIJob in it")


# --------------------------------------------------------------------------- manifests


def test_manifests_refuses_to_write_outside_a_checkout(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    (tmp_path / "mpifn").mkdir()
    (tmp_path / "mpifn" / "manifests.py").write_text("")
    code, out, err = run_cli(capsys, "manifests")
    assert (code, out) == (2, "")
    assert "is not the root of an mpifn checkout" in err and "--root DIR" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["manifests.py", "mpifn", "pyproject.toml"]


def test_manifests_writes_at_a_checkouts_root_or_under_root(capsys, tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    (checkout / "mpifn").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    shutil.copy(ROOT / "mpifn" / "manifests.py", checkout / "mpifn" / "manifests.py")
    monkeypatch.chdir(checkout)
    assert run_cli(capsys, "manifests")[0] == 0
    elsewhere = tmp_path / "elsewhere"
    assert run_cli(capsys, "manifests", "--root", str(elsewhere))[0] == 0
    for root in (checkout, elsewhere):
        for path in generated_manifests():
            assert (root / path).read_text() == (ROOT / path).read_text(), root / path


# --------------------------------------------------------------------------- overlay


@pytest.fixture
def base(tmp_path: Path) -> Path:
    folder = tmp_path / "base"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text((ROOT / "deploy" / "knative" / "kustomization.yaml").read_text())
    (folder / "crd.yaml").write_text("# resources, as in a real base\n")
    return folder


def test_overlay_refuses_a_tag_with_a_colon(capsys, base, tmp_path):
    code, out, err = run_cli(capsys, "overlay", str(base), "--tag", "1.0:x", "--out", str(tmp_path / "out"))
    assert (code, out) == (2, "")
    assert err == 'mpifn overlay: --tag: must not contain ":", got "1.0:x"; give the tag alone, e.g. --tag 1.0\n'
    assert not (tmp_path / "out").exists()


def test_overlay_refuses_a_component_as_its_base(capsys, tmp_path):
    component = ROOT / "deploy" / "components" / "images"
    assert load_yaml(component / "kustomization.yaml")["kind"] == "Component"
    code, out, err = run_cli(capsys, "overlay", str(component), "--out", str(tmp_path / "out"))
    assert (code, out) == (2, "")
    assert "a kustomize Component (kind: Component" in err and "deploy/knative" in err
    assert not (tmp_path / "out").exists()


def test_overlay_refuses_to_overwrite_its_input(capsys, base):
    before = (base / "kustomization.yaml").read_text()
    for out in (str(base), f"{base}/", f"{base}/../base"):
        code, stdout, err = run_cli(capsys, "overlay", str(base), "--out", out)
        assert (code, stdout) == (2, ""), out
        assert "is the input folder" in err and "--out overlay" in err
    assert (base / "kustomization.yaml").read_text() == before


def test_overlay_refuses_to_overwrite_a_kustomization_it_did_not_write(capsys, base, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "kustomization.yaml").write_text((ROOT / "deploy" / "plain" / "kustomization.yaml").read_text())
    before = (other / "kustomization.yaml").read_text()
    code, out, err = run_cli(capsys, "overlay", str(base), "--out", str(other))
    assert (code, out) == (2, "")
    assert "is not an overlay `mpifn overlay` wrote" in err
    assert (other / "kustomization.yaml").read_text() == before


def test_overlay_rewrites_its_own_overlay(capsys, base, tmp_path):
    out = tmp_path / "overlay"
    assert run_cli(capsys, "overlay", str(base), "--tag", "1.0", "--out", str(out))[0] == 0
    assert run_cli(capsys, "overlay", str(base), "--tag", "2.0", "--out", str(out))[0] == 0
    written = load_yaml(out / "kustomization.yaml")
    assert written["resources"] == ["../base"]
    assert {image["newTag"] for image in written["images"]} == {"2.0"}


# --------------------------------------------------------------------------- dist

VARIANTS = ("knative", "knative-auth", "openfaas", "openfaas-auth", "plain", "plain-auth")
# `kubectl kustomize DIR`, as far as dist uses it: prints the overlay dist wrote, and the
# folder its one resource names.
STAND_IN_KUBECTL = f"""#!{sys.executable}
import pathlib, sys, yaml
assert sys.argv[1] == "kustomize", sys.argv
folder = pathlib.Path(sys.argv[2])
overlay = yaml.safe_load((folder / "kustomization.yaml").read_text())
print(yaml.safe_dump({{**overlay, "resolved": str((folder / overlay["resources"][0]).resolve())}}))
"""


def stand_in_kubectl(tmp_path: Path, text: str = STAND_IN_KUBECTL) -> str:
    path = tmp_path / "kubectl"
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def test_dist_writes_one_manifest_per_ready_kustomization_with_the_images_named(capsys, tmp_path):
    out = tmp_path / "dist"
    kubectl = stand_in_kubectl(tmp_path)
    code, stdout, err = run_cli(
        capsys,
        "dist",
        "--registry",
        "registry.example:5000/team/",
        "--tag",
        "1.2.3",
        "--out",
        str(out),
        "--kubectl",
        kubectl,
    )
    assert (code, err) == (0, "")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"mpifn-{variant}.yaml" for variant in VARIANTS)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for variant in VARIANTS:
        path = out / f"mpifn-{variant}.yaml"
        assert f"wrote {path}: kubectl apply -f {path}\n" in stdout
        text = path.read_text()
        assert text.startswith(
            f"# mpifn {version} release manifest: deploy/{variant} "
            "with the images registry.example:5000/team/<name>:1.2.3.\n"
            f"# Install it (after Metacontroller; README, Deploy): kubectl apply -f mpifn-{variant}.yaml\n"
        )
        built = yaml.safe_load(text)
        assert built["resolved"] == str(ROOT / "deploy" / variant)
        assert built["images"] == [
            {"name": f"docker.io/mpifn/{image}", "newName": f"registry.example:5000/team/{image}", "newTag": "1.2.3"}
            for image in ("mpibase", "sync", "finalize", "probe")
        ]


def test_dist_writes_nothing_when_kubectl_fails_or_is_missing(capsys, tmp_path):
    out = tmp_path / "dist"
    failing = stand_in_kubectl(tmp_path, "#!/bin/sh\necho 'error: no such component' >&2\nexit 1\n")
    code, stdout, err = run_cli(capsys, "dist", "--out", str(out), "--kubectl", failing)
    assert (code, stdout) == (2, "")
    assert err == f"mpifn dist: {failing} kustomize of deploy/knative failed: error: no such component\n"
    missing = str(tmp_path / "nowhere" / "kubectl")
    code, stdout, err = run_cli(capsys, "dist", "--out", str(out), "--kubectl", missing)
    assert (code, stdout) == (2, "")
    assert err.startswith(f"mpifn dist: --kubectl {missing}: cannot run it (")
    assert "make dist KUBECTL=/path/to/kubectl (scripts/build-tools.sh kubernetes builds one)" in err
    assert not out.exists()


def test_dist_refuses_a_tag_with_a_colon_and_a_folder_that_is_no_checkout(capsys, tmp_path):
    kubectl = stand_in_kubectl(tmp_path)
    out = tmp_path / "dist"
    code, stdout, err = run_cli(capsys, "dist", "--tag", "1.0:x", "--out", str(out), "--kubectl", kubectl)
    assert (code, stdout) == (2, "")
    assert err == 'mpifn dist: --tag: must not contain ":", got "1.0:x"; give the tag alone, e.g. --tag 1.0\n'
    assert cli.write_dist(tmp_path, "registry.example", "1.0", out, kubectl) == 2
    assert "mpifn runs from no checkout" in capsys.readouterr().err
    assert not out.exists()


# --------------------------------------------------------------------------- make run, make help


def test_serve_says_when_the_port_is_taken_and_how_to_pick_another():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "mpifn.serve", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=30,
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"mpifn.serve: port {port} on 127.0.0.1 is already in use (another `make run`?); pick another port: "
        f"make run PORT={port + 1} (python -m mpifn.serve --port {port + 1})\n"
    )


def make(*args: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_help_lists_every_target_with_one_line():
    phony = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith(".PHONY:"))
    targets = phony.split(":", 1)[1].split()
    lines = make("help").splitlines()
    listed = {line.split()[0]: line for line in lines[1:]}
    assert sorted(listed) == sorted(targets)
    assert all(len(line.split()) > 1 for line in listed.values())
    assert make() == make("help")  # the default goal


def test_make_run_installs_only_the_runtime_dependencies_into_a_venv(tmp_path):
    venv = tmp_path / "venv"
    commands = make("-n", "run", f"VENV={venv}")
    assert f"-m venv {venv}" in commands
    assert f"{venv}/bin/python -m pip install" in commands and "-r mpifn/requirements.txt" in commands
    assert "[test]" not in commands
    assert f"{venv}/bin/python -m mpifn.serve --host 127.0.0.1 --port 8080" in commands
    assert "--port 8081" in make("-n", "run", f"VENV={venv}", "PORT=8081")


@pytest.mark.parametrize("target", ["test", "lint", "unit", "e2e-mpi", "e2e-k8s", "e2e-node", "bench", "fuzz", "soak"])
def test_make_test_targets_install_the_test_tools_into_the_same_venv(tmp_path, target):
    venv = tmp_path / "venv"
    commands = make("-n", target, f"VENV={venv}")
    assert f"{venv}/bin/python -m pip install" in commands and "-e '.[test]'" in commands
    assert "python3 -m pip" not in commands


def test_make_dist_builds_with_the_tools_kubectl_else_the_one_on_path(tmp_path):
    venv = tmp_path / "venv"
    tools = tmp_path / "tools"
    command = f"{venv}/bin/python -m mpifn dist --registry 'registry.example/team' --tag '2.0' --out 'dist' --kubectl"
    settings = (f"VENV={venv}", f"MPIFN_TOOLS_DIR={tools}", "REGISTRY=registry.example/team", "TAG=2.0")
    assert f"{command} 'kubectl'" in make("-n", "dist", *settings)
    kubectl = tools / "kubernetes-v9.9.9" / "bin" / "kubectl"
    kubectl.parent.mkdir(parents=True)
    kubectl.touch()
    (tools / "versions.txt").write_text("etcd=v1\nkubernetes=v9.9.9\n")
    assert f"{command} '{kubectl}'" in make("-n", "dist", *settings)
    assert "--kubectl '/opt/kubectl'" in make("-n", "dist", *settings, "KUBECTL=/opt/kubectl")
    assert "[test]" not in make("-n", "dist", *settings)


def test_make_chart_packages_with_the_tools_helm_else_the_one_on_path(tmp_path):
    tools = tmp_path / "tools"
    command = "package charts/mpifn --destination 'out'"
    assert f"'helm' {command}" in make("-n", "chart", f"MPIFN_TOOLS_DIR={tools}", "DIST=out")
    helm = tools / "helm-v9.9.9" / "bin" / "helm"
    helm.parent.mkdir(parents=True)
    helm.touch()
    (tools / "versions.txt").write_text("helm=v9.9.9\n")
    assert f"'{helm}' {command}" in make("-n", "chart", f"MPIFN_TOOLS_DIR={tools}", "DIST=out")
    assert f"'/opt/helm' {command}" in make("-n", "chart", f"MPIFN_TOOLS_DIR={tools}", "DIST=out", "HELM=/opt/helm")
