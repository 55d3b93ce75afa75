"""Real MPI runs across network namespaces: the lab (namespaces, processes, faults).

One test = one small "cluster" made of Linux network namespaces joined by veth
pairs to a bridge, all on 10.231.0.0/24 (the project's own test range; no
namespace has a default route and the bridge has no address, so nothing leaves
the lab):

    gateway  10.231.0.2   the probe function, served for real on :8080 and
                          reached as http://gateway.openfaas:8080/function/probe
    launcher 10.231.0.3   runs images/mpibase/mpifn-launcher-init.sh, then mpirun
    worker i 10.231.0.1i  own UTS namespace (host name <job>-worker-<i>), runs
                          sshd through images/mpibase/mpifn-worker.sh as a
                          non-root test user on the job's sshPort

Each namespace gets /etc/netns/<ns>/hosts resolving
<job>-worker-<i>.<job>-worker.<namespace>.svc, so the probe's default host-name
template works as in a cluster. The key pair, ssh client config, ssh wrapper
and the launcher's environment all come from the real `mpifn.hooks.sync`
answer; only the `/etc/mpi` prefix is rewritten to a per-test folder.

Everything is torn down in `finally` blocks, failed case or not: processes
(by the ids this suite started, plus any process still inside one of its
namespaces), namespaces, veths, bridge, /etc/netns/<ns>, the test user and
its files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from testkit.labnet import GATEWAY_IP, WORKER_IP_BASE, LabNetwork, run
from testkit.mpijob import RenderedJob, rewrite_etc_mpi, write_job_files

REPO = Path(__file__).resolve().parents[1]
IMAGE_DIR = REPO / "images" / "mpibase"

PROBE_PORT = 8080
TEST_USER = "mpifne2e"
PROBE_KEY_VARIABLE = "MPIFN_PROBE_KEY_FILE"  # the key sync signs with and the probe checks

REQUIRED_COMMANDS = {
    "ip": "iproute2",
    "nft": "nftables",
    "unshare": "util-linux",
    "setpriv": "util-linux",
    "useradd": "passwd",
    "userdel": "passwd",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "curl": "curl",
    "dash": "dash",
    "mpicc.openmpi": "libopenmpi-dev",
    "mpirun.openmpi": "openmpi-bin",
    "mpicc.mpich": "libmpich-dev",
    "mpiexec.mpich": "mpich",
}


def pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                pids.append(int(entry))
        except OSError:
            continue
    return pids


@dataclass
class LabUser:
    name: str
    uid: int
    gid: int
    home: Path
    base: Path  # root-owned folder (0755) holding everything of this session
    probe_key: Path  # the key sync signs the launcher's probe fields with and the probe checks


@dataclass
class Proc:
    """One process of the lab, in its own session, logging to one file."""

    name: str
    popen: subprocess.Popen
    log: Path

    def wait_for_log(self, needle: str, seconds: float = 20.0) -> None:
        """Until the log holds needle; AssertionError with the log if the process exits first."""
        deadline = time.monotonic() + seconds
        for _ in range(int(seconds / 0.05) + 1):
            text = self.log.read_text(errors="replace")
            if needle in text:
                return
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}) before {needle!r}:\n{text}")
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no {needle!r} within {seconds}s:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)


@dataclass
class InitResult:
    returncode: int
    output: str
    seconds: float
    hostfile: str | None


MPI_LAUNCHERS = {"OpenMPI": "mpirun.openmpi", "MPICH": "mpiexec.mpich"}


@dataclass
class Launch:
    init: InitResult
    mpi: subprocess.CompletedProcess | None

    @property
    def output(self) -> str:
        out = self.init.output
        if self.mpi is not None:
            out += f"\n--- mpirun (exit {self.mpi.returncode})\n{self.mpi.stdout}{self.mpi.stderr}"
        return out


@dataclass
class Lab:
    user: LabUser
    tag: str
    root: Path  # per-test folder; <root>/etc/mpi stands for /etc/mpi
    job: RenderedJob | None = None
    network: LabNetwork = field(init=False)
    procs: list[Proc] = field(default_factory=list)
    workers: dict[int, Proc] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.network = LabNetwork(self.tag)

    @property
    def rendered(self) -> RenderedJob:
        if self.job is None:
            raise RuntimeError("the lab has no job yet: call setup(job) first")
        return self.job

    @property
    def etc_mpi(self) -> Path:
        return self.root / "etc" / "mpi"

    @property
    def hostfile(self) -> Path:
        return self.etc_mpi / "hostfile"

    # ---- setup
    def setup(self, job: RenderedJob) -> None:
        self.job = job
        write_job_files(job, self.root, self.user.gid)
        self.network.make(job)

    # ---- processes
    def _env(self, extra: dict[str, str] | None = None, *, as_user=True) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "LANG": "C.UTF-8",
        }
        if as_user:
            env.update(HOME=str(self.user.home), USER=self.user.name, LOGNAME=self.user.name)
        env.update(extra or {})
        return env

    def _as_user(self) -> list[str]:
        return ["setpriv", f"--reuid={self.user.uid}", f"--regid={self.user.gid}", "--init-groups", "--"]

    def in_ns(self, role: str, argv: list[str], *, hostname: str | None = None, as_user=True) -> list[str]:
        """argv run in the role's namespace, optionally with its own host name."""
        prefix = ["ip", "netns", "exec", self.network.ns(role)]
        user = self._as_user() if as_user else []
        if hostname:
            set_name = 'hostname "$1" && shift && exec "$@"'
            return [*prefix, "unshare", "--uts", "--", "sh", "-c", set_name, "sh", hostname, *user, *argv]
        return prefix + user + argv

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> Proc:
        log = self.root / f"{name}.log"
        with open(log, "wb") as handle:
            popen = subprocess.Popen(
                cmd, env=env, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_probe(self) -> Proc:
        env = self._env(
            {
                "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                "PYTHONUNBUFFERED": "1",
            },
            as_user=False,
        )
        for key in ("MPIFN_WORKER_HOST_TEMPLATE",):
            env.pop(key, None)  # the default template, as in a cluster
        if PROBE_KEY_VARIABLE not in os.environ:
            raise AssertionError(f"{PROBE_KEY_VARIABLE} is not set: the e2e_user fixture makes the probe key")
        env[PROBE_KEY_VARIABLE] = os.environ[PROBE_KEY_VARIABLE]
        proc = self.spawn(
            "probe",
            self.in_ns(
                "gw",
                [
                    sys.executable,
                    "-m",
                    "mpifn.serve",
                    "--host",
                    GATEWAY_IP,
                    "--port",
                    str(PROBE_PORT),
                ],
                as_user=False,
            ),
            env,
        )
        url = f"http://gateway.openfaas:{PROBE_PORT}/_/health"
        for _ in range(200):
            result = run(
                self.in_ns("l", ["curl", "-fsS", "--max-time", "2", url], as_user=False),
                check=False,
                env=self._env(as_user=False),
            )
            if result.returncode == 0:
                return proc
            if proc.popen.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"probe server did not answer {url}:\n{proc.log.read_text()}")

    def start_worker(self, index: int) -> Proc:
        job = self.rendered
        env = self._env(rewrite_etc_mpi(job.worker_env, self.root))
        env.setdefault("MPIFN_SSH_KEY_DIR", str(self.etc_mpi / "ssh"))
        env["MPIFN_SSHD_DIR"] = str(self.user.home / f"sshd-{self.tag}-w{index}")
        script = str(self.user.base / "bin" / "mpifn-worker")
        proc = self.spawn(f"worker{index}", self.in_ns(f"w{index}", [script], hostname=job.worker_hostname(index)), env)
        proc.wait_for_log("Server listening on")
        self.workers[index] = proc
        return proc

    def start_workers(self, skip=()) -> None:
        for i in range(self.rendered.replicas):
            if i not in skip:
                self.start_worker(i)

    def stop_worker(self, index: int) -> None:
        self.workers.pop(index).stop()

    def start_not_ssh(self, index: int, banner: str = "HTTP/1.1 400 Bad Request\r\n\r\n") -> Proc:
        """A TCP service on worker <index>'s ssh port that answers, but not SSH."""
        code = (
            "import socket,sys\n"
            "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(64)\n"
            "print('listening', flush=True)\n"
            "for _ in range(1000):\n"
            "    c, _a = s.accept()\n"
            "    try:\n"
            "        c.sendall(sys.argv[2].encode())\n"
            "    finally:\n"
            "        c.close()\n"
        )
        proc = self.spawn(
            f"notssh{index}",
            self.in_ns(f"w{index}", [sys.executable, "-c", code, str(self.rendered.ssh_port), banner]),
            self._env(),
        )
        proc.wait_for_log("listening")
        return proc

    def run_init(self, timeout: float | None = None) -> InitResult:
        """The launcher's init step: the image's script with sync's init env."""
        job = self.rendered
        env = self._env(rewrite_etc_mpi(job.init_env, self.root))
        env.setdefault("MPIFN_HOSTFILE", str(self.hostfile))
        deadline = int(env.get("MPIFN_INIT_DEADLINE_SECONDS", "300"))
        script = str(self.user.base / "bin" / "mpifn-launcher-init")
        started = time.monotonic()
        result = run(
            self.in_ns("l", ["dash", script], hostname=f"{job.name}-launcher"),
            check=False,
            timeout=timeout or deadline + 60,
            env=env,
        )
        seconds = time.monotonic() - started
        hostfile = self.hostfile.read_text() if self.hostfile.exists() else None
        return InitResult(result.returncode, result.stdout + result.stderr, seconds, hostfile)

    def run_mpi(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        """argv (mpirun ...) on the launcher with the environment sync gave its container."""
        job = self.rendered
        env = self._env(rewrite_etc_mpi(job.launcher_env, self.root))
        cmd = self.in_ns("l", argv, hostname=f"{job.name}-launcher")
        try:
            return run(cmd, check=False, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as expired:
            # mpirun hangs rather than fail in some set-ups: report what it said.
            def text(data):
                return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")

            return subprocess.CompletedProcess(
                cmd,
                -9,
                text(expired.stdout),
                text(expired.stderr) + f"\n[test: killed after {timeout}s without exiting]\n",
            )

    def launch(self, timeout: float = 120) -> Launch:
        """The launcher pod: init container, then the main container only if it succeeded.

        The main container runs the MPIJob template's command as sync put it
        on the launcher, with `mpirun`/`mpiexec` mapped to the binary of the
        job's MPI flavour (Debian installs both stacks under suffixed names).
        """
        init = self.run_init()
        if init.returncode != 0:
            return Launch(init=init, mpi=None)
        argv = list(self.rendered.launcher_command)
        binary = MPI_LAUNCHERS[self.rendered.implementation]
        if argv and argv[0] in ("mpirun", "mpiexec"):
            argv[0] = binary
        return Launch(init=init, mpi=self.run_mpi(argv, timeout=timeout))

    def ssh_logins(self, index: int) -> int:
        """How many ssh logins worker <index>'s sshd accepted."""
        proc = self.workers.get(index) or next((p for p in self.procs if p.name == f"worker{index}"), None)
        if proc is None:
            return 0
        return proc.log.read_text(errors="replace").count("Accepted publickey")

    def logs(self) -> str:
        out = []
        for proc in self.procs:
            with contextlib.suppress(OSError):
                out.append(f"--- {proc.name}\n{proc.log.read_text(errors='replace')[-4000:]}")
        return "\n".join(out)

    def drop_all_packets(self, index: int) -> None:
        """Make worker <index>'s namespace drop every IP packet it gets or sends."""
        self.network.drop_all_packets(index)

    # ---- teardown
    def teardown(self) -> None:
        errors = []
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception as error:  # keep tearing down
                errors.append(f"stop {proc.name}: {error}")
        errors += self.network.remove()
        for i in range(WORKER_IP_BASE):
            shutil.rmtree(self.user.home / f"sshd-{self.tag}-w{i}", ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
        leftover = self.network.leftover()
        if leftover or errors:
            raise AssertionError(f"teardown left {leftover}; errors: {errors}")
