""".ci/run keeps the component logs of a failed run outside the clone and says where, and
fails with the failing step's exit code; a passing run leaves no folder behind. Run here with
a stand-in `make` that plays the steps (the real ones run in CI itself)."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.conftest import ROOT

# Plays `make TARGET`: the cluster suite leaves a log where the harness copies them, and the
# target named by FAIL exits with CODE.
FAKE_MAKE = """#!/bin/sh
echo "$1" >> "$STEPS"
if [ "$1" = e2e-k8s ] && [ -n "${MPIFN_E2E_LOG_DIR:-}" ]; then
    mkdir -p "$MPIFN_E2E_LOG_DIR/mpifn-e2e-k8s-x"
    echo "apiserver said" > "$MPIFN_E2E_LOG_DIR/mpifn-e2e-k8s-x/kube-apiserver.log"
fi
if [ "$1" = "$FAIL" ]; then exit "$CODE"; fi
"""


def run_ci(tmp_path: Path, fail: str = "", code: int = 0) -> tuple[subprocess.CompletedProcess, Path]:
    clone = tmp_path / "clone"
    (clone / ".ci").mkdir(parents=True)
    shutil.copy2(ROOT / ".ci" / "run", clone / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text(FAKE_MAKE)
    (bin_dir / "make").chmod(stat.S_IRWXU)
    steps = tmp_path / "steps"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MPIFN_")}
    env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", STEPS=str(steps), FAIL=fail, CODE=str(code))
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    result = subprocess.run(
        ["bash", str(clone / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return result, steps


def test_a_failed_run_keeps_the_logs_outside_the_clone_and_says_where(tmp_path):
    result, steps = run_ci(tmp_path, fail="e2e-k8s", code=5)  # pytest's "no tests collected"
    assert result.returncode == 5
    assert steps.read_text().split() == ["test", "e2e-k8s"]
    [said] = [line for line in result.stderr.splitlines() if "component logs" in line]
    kept = Path(said.rsplit(" in ", 1)[1])
    assert kept.parent == tmp_path / "tmp" and kept.name.startswith("mpifn-ci-logs.")
    assert (kept / "mpifn-e2e-k8s-x" / "kube-apiserver.log").read_text() == "apiserver said\n"
    assert "exit 5" in said


def test_a_failure_of_the_first_step_fails_the_run(tmp_path):
    result, steps = run_ci(tmp_path, fail="test", code=2)
    assert result.returncode == 2
    assert steps.read_text().split() == ["test"]


def test_a_passing_run_leaves_no_log_folder(tmp_path):
    result, steps = run_ci(tmp_path)
    assert result.returncode == 0, result.stderr
    assert steps.read_text().split() == ["test", "e2e-k8s", "e2e-node"]
    assert list((tmp_path / "tmp").iterdir()) == []
