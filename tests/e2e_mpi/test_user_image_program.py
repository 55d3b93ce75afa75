"""The MPI program of examples/user-image builds with Debian's OpenMPI (as its Dockerfile
does on mpibase) and passes its token around every rank. Across hosts it runs in the
real-node suite, from the image."""

import subprocess

import pytest

from testkit.lab import REPO

pytestmark = pytest.mark.e2e_mpi


def test_the_ring_program_passes_the_token_around_every_rank(e2e_tools, tmp_path):
    binary = tmp_path / "mpi-ring"
    compiled = subprocess.run(
        [
            "mpicc.openmpi",
            "-O2",
            "-Wall",
            "-Werror",
            "-o",
            str(binary),
            str(REPO / "examples" / "user-image" / "ring.c"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    ran = subprocess.run(
        ["mpirun.openmpi", "--allow-run-as-root", "--oversubscribe", "-n", "3", str(binary)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert [line.split(" on ")[0] for line in lines[:3]] == [f"rank {r} of 3" for r in range(3)]
    assert lines[3] == "token passed 2 times; 3 ranks on 1 hosts"
