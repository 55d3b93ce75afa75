"""Real MPICH run across worker namespaces (issue 3, case e).

Debian's openmpi-bin and mpich install side by side (mpirun.openmpi,
mpicc.openmpi / mpiexec.mpich, mpicc.mpich, chosen by update-alternatives for
the plain names), so the MPICH flavour runs for real: the probe's `host:N`
hostfile, written by the image's init script, is read by hydra through
HYDRA_HOST_FILE, and hydra starts its proxies through the ConfigMap's `ssh`
wrapper (HYDRA_LAUNCHER_EXEC), exactly as sync sets them on the launcher.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from testkit.mpijob import render_job

pytestmark = pytest.mark.e2e_mpi

RANK_LINE = re.compile(r"^RANK (\d+) OF (\d+) ON (\S+) NS (\S+) PID \d+$", re.M)


def test_e_mpich_runs_with_the_host_colon_slots_hostfile(lab, mpi_programs):
    job, _ = render_job(
        name="mpich", replicas=3, slots=2, implementation="MPICH", command=["mpiexec", str(mpi_programs["MPICH"])]
    )
    env = job.launcher_env
    assert env.get("HYDRA_HOST_FILE") == "/etc/mpi/hostfile", env
    assert env.get("HYDRA_LAUNCHER") == "ssh", env
    assert env.get("HYDRA_LAUNCHER_EXEC") == "/etc/mpi/config/ssh", env
    assert not any(key.startswith("OMPI_") for key in env), env
    wrapper = job.configmap["data"]["ssh"]
    assert wrapper.startswith("#!/bin/sh") and "-F /etc/mpi/config/ssh_config" in wrapper
    lab.setup(job)
    lab.start_probe()
    lab.start_workers()

    launch = lab.launch(timeout=30)

    assert launch.init.returncode == 0, launch.output
    assert launch.init.hostfile == "".join(f"{job.worker_host(i)}:2\n" for i in range(3)), launch.output
    assert launch.mpi is not None
    if "unable to get host address for" in launch.output:
        pytest.fail(
            "MPICH's hydra proxies on the workers connect back to the launcher by its host "
            "name, which a worker cannot resolve (a Job's pod has no DNS record). sync must "
            "set HYDRA_IFACE=eth0 on MPICH launchers (I_MPI_HYDRA_IFACE for Intel MPI) so "
            "the proxies get the launcher's address, or give the launcher a resolvable "
            f"hostname/subdomain.\n{launch.output}"
        )
    assert launch.mpi.returncode == 0, launch.output
    # No -n: hydra takes the process count from the hostfile's slots.
    ranks = {int(r): name for r, _s, name, uts in RANK_LINE.findall(launch.mpi.stdout)}
    assert sorted(ranks) == list(range(6)), launch.output
    assert Counter(ranks.values()) == {job.worker_hostname(i): 2 for i in range(3)}, launch.output
    assert re.search(r"^SUM 21 EXPECTED 21$", launch.mpi.stdout, re.M), launch.output
    assert all(lab.ssh_logins(i) >= 1 for i in range(3)), lab.logs()
