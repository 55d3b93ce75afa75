"""Fixtures of the real MPI runs (see testkit/lab.py for the setup they build)."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from testkit.lab import IMAGE_DIR, PROBE_KEY_VARIABLE, REPO, REQUIRED_COMMANDS, TEST_USER, Lab, LabUser, pids_of_uid
from testkit.labnet import kill_pids, run, wait_gone

HERE = Path(__file__).resolve().parent


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "e2e_mpi: real MPI runs across network namespaces (needs root, scripts/install-mpi-deps.sh)",
    )


# --------------------------------------------------------------------------
# session fixtures: tools, test user, compiled programs


@pytest.fixture(scope="session")
def e2e_tools():
    if os.geteuid() != 0:
        pytest.fail("tests/e2e_mpi needs root (network namespaces, a test user)")
    missing = [f"{cmd} (Debian package {pkg})" for cmd, pkg in REQUIRED_COMMANDS.items() if shutil.which(cmd) is None]
    if not os.access("/usr/sbin/sshd", os.X_OK):
        missing.append("/usr/sbin/sshd (Debian package openssh-server)")
    if missing:
        pytest.fail("missing for the MPI end-to-end tests: " + ", ".join(missing) + "; run scripts/install-mpi-deps.sh")
    try:
        import mpifn.hooks
        import mpifn.sshkeys  # noqa: F401
    except ImportError as error:
        pytest.fail(f"the mpifn package is not importable ({error}); pip install -e . first")
    result = run([sys.executable, "-c", "import mpifn.serve"], check=False, cwd=REPO)
    if result.returncode != 0:
        pytest.fail(f"mpifn.serve (the local function server) does not import:\n{result.stderr}")


@pytest.fixture(scope="session")
def e2e_user(e2e_tools):
    """A non-root user for sshd, the init step and mpirun (like the image's mpiuser)."""
    base = Path(tempfile.mkdtemp(prefix="mpifn-e2e-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    home = base / "home"
    created = False
    try:
        # A stale user from a run that was killed hard: take it over.
        try:
            pwd.getpwnam(TEST_USER)
            run(["userdel", TEST_USER], check=False)
        except KeyError:
            pass
        run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                str(home),
                "--shell",
                "/bin/sh",
                TEST_USER,
            ]
        )
        created = True
        # "*": no password but not a locked account (sshd with UsePAM no
        # refuses locked accounts), as in the image.
        run(["usermod", "-p", "*", TEST_USER])
        entry = pwd.getpwnam(TEST_USER)
        home.mkdir(mode=0o755)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        os.chmod(home, 0o755)
        bindir = base / "bin"
        bindir.mkdir(mode=0o755)
        # Signing on, as deployed with a key: sync (render_job) signs each launcher's probe
        # fields and the probe (Lab.start_probe) refuses anything else.
        key = base / "probe.key"
        key.write_text(secrets.token_hex(32))
        os.chmod(key, 0o600)
        for script, name in (
            ("mpifn-worker.sh", "mpifn-worker"),
            ("mpifn-launcher-init.sh", "mpifn-launcher-init"),
        ):
            shutil.copy(IMAGE_DIR / script, bindir / name)
            os.chmod(bindir / name, 0o755)
        yield LabUser(TEST_USER, entry.pw_uid, entry.pw_gid, home, base, key)
    finally:
        try:
            entry = pwd.getpwnam(TEST_USER)
            leftovers = pids_of_uid(entry.pw_uid)
            kill_pids(leftovers)
            wait_gone(leftovers)
        except KeyError:
            pass
        if created:
            run(["userdel", TEST_USER], check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def probe_key(e2e_user, monkeypatch):
    """The session's probe key in the environment for one test only (sync signs with it,
    the probe checks it), so that it never reaches the suites that run after this one."""
    monkeypatch.setenv(PROBE_KEY_VARIABLE, str(e2e_user.probe_key))
    yield e2e_user.probe_key
    monkeypatch.delenv(PROBE_KEY_VARIABLE)


@pytest.fixture(scope="session")
def mpi_programs(e2e_user):
    """hello_mpi.c built with Debian's OpenMPI and MPICH compilers."""
    out = {}
    for flavour, compiler in (("OpenMPI", "mpicc.openmpi"), ("MPICH", "mpicc.mpich")):
        target = e2e_user.base / "bin" / f"hello_{flavour.lower()}"
        result = run([compiler, "-O2", "-Wall", "-o", str(target), str(HERE / "hello_mpi.c")], check=False, timeout=120)
        assert result.returncode == 0, f"{compiler} failed:\n{result.stdout}{result.stderr}"
        os.chmod(target, 0o755)
        out[flavour] = target
    return out


@pytest.fixture
def lab(e2e_user, request):
    tag = secrets.token_hex(2)
    root = Path(tempfile.mkdtemp(prefix=f"case-{tag}-", dir=e2e_user.base))
    os.chmod(root, 0o755)
    the_lab = Lab(user=e2e_user, tag=tag, root=root)
    try:
        yield the_lab
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            sys.stderr.write(f"\n==== logs of {request.node.name}\n{the_lab.logs()}\n")
        the_lab.teardown()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
