"""Real OpenMPI runs across worker namespaces (issue 3, cases a-d).

Each case renders an MPIJob with the real `mpifn.hooks.sync`, starts the
workers' sshd through images/mpibase/mpifn-worker.sh, serves the probe
function for real, runs images/mpibase/mpifn-launcher-init.sh on the launcher
and then the job's mpirun line with the environment sync gave the launcher.
hello_mpi.c proves where each rank ran (each worker has its own UTS namespace
and host name) and that the ranks talk (MPI_Allreduce).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from testkit.mpijob import render_job

pytestmark = pytest.mark.e2e_mpi

RANK_LINE = re.compile(r"^RANK (\d+) OF (\d+) ON (\S+) NS (\S+) PID \d+$", re.M)
SUM_LINE = re.compile(r"^SUM (\d+) EXPECTED (\d+)$", re.M)

# Slack for "the init step ends within its deadline": process start-up and
# one last probe call that may end a little after the deadline.
DEADLINE_SLACK_SECONDS = 8


def ranks_by_host(output: str) -> tuple[dict[int, str], Counter]:
    ranks: dict[int, str] = {}
    for rank, _size, name, uts in RANK_LINE.findall(output):
        assert name == uts, f"MPI_Get_processor_name {name} != gethostname {uts}"
        ranks[int(rank)] = name
    return ranks, Counter(ranks.values())


def assert_sum(output: str, size: int) -> None:
    match = SUM_LINE.search(output)
    assert match, f"no SUM line from rank 0:\n{output}"
    assert int(match.group(1)) == size * (size + 1) // 2 == int(match.group(2)), output


def hostfile_hosts(text: str) -> list[str]:
    return [line.split()[0].split(":")[0] for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_a_four_workers_two_slots_run_eight_ranks_on_four_hosts(lab, mpi_programs):
    job, _ = render_job(name="hello", replicas=4, slots=2, command=["mpirun", str(mpi_programs["OpenMPI"])])
    lab.setup(job)
    lab.start_probe()
    lab.start_workers()

    launch = lab.launch()

    assert launch.init.returncode == 0, launch.output
    assert "(signed request)" in launch.init.output  # the probe holds a key and verified it
    assert launch.init.hostfile == "".join(f"{job.worker_host(i)} slots=2\n" for i in range(4)), launch.output
    assert "no worker excluded" in launch.init.output
    assert launch.mpi is not None and launch.mpi.returncode == 0, launch.output
    ranks, per_host = ranks_by_host(launch.mpi.stdout)
    # No -n on the command line: 8 ranks come from the hostfile's slots, which
    # mpirun found through the environment sync set on the launcher.
    assert sorted(ranks) == list(range(8)), launch.output
    assert per_host == {job.worker_hostname(i): 2 for i in range(4)}, launch.output
    assert all(name.startswith("hello-worker-") for name in per_host)
    assert_sum(launch.mpi.stdout, 8)
    assert all(lab.ssh_logins(i) >= 1 for i in range(4)), lab.logs()


def test_b_daemons_mode_drops_a_stopped_and_a_silent_worker(lab, mpi_programs):
    deadline = 30
    job, _ = render_job(
        name="daemons",
        replicas=4,
        slots=2,
        daemons=True,
        init_deadline_seconds=deadline,
        command=["mpirun", str(mpi_programs["OpenMPI"])],
    )
    assert job.init_env["MPIFN_MIN_REPLICAS"] == "1", job.init_env
    assert job.init_env["MPIFN_INIT_DEADLINE_SECONDS"] == str(deadline)
    lab.setup(job)
    lab.start_probe()
    lab.start_workers()
    lab.stop_worker(1)  # sshd gone: the port refuses
    lab.drop_all_packets(3)  # the namespace drops every packet: no answer at all

    launch = lab.launch()

    out = launch.init.output
    assert launch.init.returncode == 0, launch.output
    assert re.search(r"2 of 4 workers reachable, 1 needed", out), out
    assert re.search(rf"{re.escape(job.worker_host(1))}: refused\b", out), out
    assert re.search(rf"{re.escape(job.worker_host(3))}: timeout\b", out), out
    assert hostfile_hosts(launch.init.hostfile) == [job.worker_host(0), job.worker_host(2)]
    assert launch.init.seconds <= deadline + DEADLINE_SLACK_SECONDS, launch.init.seconds

    assert launch.mpi is not None and launch.mpi.returncode == 0, launch.output
    ranks, per_host = ranks_by_host(launch.mpi.stdout)
    assert sorted(ranks) == list(range(4)), launch.output
    assert per_host == {job.worker_hostname(0): 2, job.worker_hostname(2): 2}, launch.output
    assert_sum(launch.mpi.stdout, 4)
    assert lab.ssh_logins(1) == 0 and lab.ssh_logins(3) == 0


def test_c_strict_mode_fails_naming_the_down_worker_and_never_runs_mpirun(lab, mpi_programs):
    deadline = 8
    job, _ = render_job(
        name="strict",
        replicas=3,
        slots=1,
        init_deadline_seconds=deadline,
        command=["mpirun", str(mpi_programs["OpenMPI"])],
    )
    assert job.init_env["MPIFN_MIN_REPLICAS"] == "3", job.init_env
    lab.setup(job)
    lab.start_probe()
    lab.start_workers(skip={1})  # worker 1 never comes up

    launch = lab.launch()

    out = launch.init.output
    assert launch.init.returncode != 0, launch.output
    assert launch.mpi is None
    assert "too few workers reachable" in out, out
    assert "2 of 3 workers reachable, 3 needed" in out, out
    unreachable = out.split("unreachable workers:", 1)[-1]
    assert re.search(rf"{re.escape(job.worker_host(1))}: refused\b", unreachable), out
    assert "mpirun will not start" in out
    # it retried within its deadline, then gave up in time
    attempts = re.search(r"after \d+s \((\d+) attempts\)", out)
    assert attempts and int(attempts.group(1)) >= 2, out
    assert launch.init.seconds <= deadline + DEADLINE_SLACK_SECONDS, launch.init.seconds
    assert not lab.hostfile.exists()
    # mpirun never started: no worker was ever logged into.
    assert lab.ssh_logins(0) == 0 and lab.ssh_logins(2) == 0, lab.logs()


def test_d_a_port_that_answers_but_not_ssh_is_excluded(lab, mpi_programs):
    job, _ = render_job(
        name="notssh", replicas=4, slots=1, min_replicas=3, command=["mpirun", str(mpi_programs["OpenMPI"])]
    )
    lab.setup(job)
    lab.start_probe()
    lab.start_workers(skip={2})
    lab.start_not_ssh(2)

    launch = lab.launch()

    out = launch.init.output
    assert launch.init.returncode == 0, launch.output
    assert re.search(rf"{re.escape(job.worker_host(2))}: not-ssh\b", out), out
    assert hostfile_hosts(launch.init.hostfile) == [job.worker_host(0), job.worker_host(1), job.worker_host(3)]
    assert launch.mpi is not None and launch.mpi.returncode == 0, launch.output
    ranks, per_host = ranks_by_host(launch.mpi.stdout)
    assert sorted(ranks) == [0, 1, 2], launch.output
    assert set(per_host) == {job.worker_hostname(i) for i in (0, 1, 3)}, launch.output
    assert_sum(launch.mpi.stdout, 3)


def test_e_a_launcher_with_another_jobs_signature_is_refused_and_never_runs_mpirun(lab, mpi_programs):
    deadline = 4
    job, _ = render_job(
        name="victim", replicas=2, init_deadline_seconds=deadline, command=["mpirun", str(mpi_programs["OpenMPI"])]
    )
    other, _ = render_job(name="other", replicas=2)
    for variable in ("MPIFN_JOB_UID", "MPIFN_PROBE_EXPIRES", "MPIFN_PROBE_SIGNATURE"):
        job.init_env[variable] = other.init_env[variable]  # replayed for another job
    lab.setup(job)
    lab.start_probe()
    lab.start_workers()

    launch = lab.launch()

    out = launch.init.output
    assert launch.init.returncode == 1 and launch.mpi is None, launch.output
    assert "probe answered HTTP 403" in out and "signature does not match" in out, out
    assert "mpirun will not start" in out
    assert lab.ssh_logins(0) == 0 and lab.ssh_logins(1) == 0, lab.logs()
