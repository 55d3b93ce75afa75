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

import base64
import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE_DIR = REPO / "images" / "mpibase"

SUBNET_PREFIX = "10.231.0."
GATEWAY_IP = SUBNET_PREFIX + "2"
LAUNCHER_IP = SUBNET_PREFIX + "3"
WORKER_IP_BASE = 10  # worker i is 10.231.0.(10 + i)
PROBE_PORT = 8080
TEST_USER = "mpifne2e"
PROBE_KEY_VARIABLE = "MPIFN_PROBE_KEY_FILE"  # the key sync signs with and the probe checks
NS_PREFIX = "mpifn-e2e-"

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


# --------------------------------------------------------------------------
# small helpers


def run(cmd, *, check=True, timeout=60, **kwargs) -> subprocess.CompletedProcess:
    """Run a command with a bound on its time; on failure say what it printed."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"command failed ({result.returncode}): {' '.join(map(str, cmd))}\n{result.stdout}{result.stderr}"
        )
    return result


def _pids_in_netns(ns: str) -> list[int]:
    result = run(["ip", "netns", "pids", ns], check=False, timeout=20)
    return [int(p) for p in result.stdout.split() if p.strip().isdigit()]


def _pids_of_uid(uid: int) -> list[int]:
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


def _kill_pids(pids, sig=signal.SIGKILL):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _wait_gone(pids, seconds=5.0):
    deadline = time.monotonic() + seconds
    for _ in range(200):
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)
    return [p for p in pids if os.path.exists(f"/proc/{p}")]


def rewrite_etc_mpi(value, root: Path):
    """Replace the /etc/mpi prefix by <root>/etc/mpi in strings, lists, dicts."""
    if isinstance(value, str):
        return value.replace("/etc/mpi", f"{root}/etc/mpi")
    if isinstance(value, list):
        return [rewrite_etc_mpi(v, root) for v in value]
    if isinstance(value, dict):
        return {k: rewrite_etc_mpi(v, root) for k, v in value.items()}
    return value


@dataclass
class LabUser:
    name: str
    uid: int
    gid: int
    home: Path
    base: Path  # root-owned folder (0755) holding everything of this session
    probe_key: Path  # the key sync signs the launcher's probe fields with and the probe checks


# --------------------------------------------------------------------------
# the MPIJob as sync renders it


@dataclass
class RenderedJob:
    """What sync asked for, with /etc/mpi moved under a per-test folder."""

    name: str
    namespace: str
    replicas: int
    slots: int
    min_replicas: int
    ssh_port: int
    implementation: str
    response: dict
    secret: dict
    configmap: dict
    init_env: dict[str, str]
    launcher_env: dict[str, str]
    worker_env: dict[str, str]
    worker_command: list[str]
    launcher_command: list[str]

    def worker_host(self, index: int) -> str:
        return f"{self.name}-worker-{index}.{self.name}-worker.{self.namespace}.svc"

    def worker_hostname(self, index: int) -> str:
        return f"{self.name}-worker-{index}"


def _children_by_kind(response: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for child in response.get("children", []):
        out.setdefault(child["kind"], []).append(child)
    return out


def _env_dict(container: dict) -> dict[str, str]:
    env = {}
    for item in container.get("env", []) or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
    return env


def render_job(
    *,
    name: str,
    namespace: str = "e2e",
    replicas: int,
    slots: int = 1,
    min_replicas: int | None = None,
    daemons: bool = False,
    ssh_port: int = 2222,
    implementation: str = "OpenMPI",
    command: list[str] | None = None,
    init_deadline_seconds: int | None = None,
) -> tuple[RenderedJob, dict]:
    """Call the real mpifn.hooks.sync for a fresh MPIJob, with the settings of this process's
    environment (the probe key the test set there) and MPIFN_INIT_DEADLINE_SECONDS."""
    from mpifn.settings import settings_from
    from testkit import calls

    spec: dict = {
        "replicas": replicas,
        "slotsPerWorker": slots,
        "sshPort": ssh_port,
        "mpiImplementation": implementation,
        "daemons": daemons,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "mpi",
                        "image": "mpifn/mpibase:test",
                        "command": command or ["mpirun", "./hello"],
                    }
                ],
            },
        },
    }
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    parent = {
        "apiVersion": "mpifn.dev/v1",
        "kind": "MPIJob",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "generation": 1,
            "creationTimestamp": "2026-11-28T00:00:00Z",
        },
        "spec": spec,
    }
    request = {"controller": {}, "parent": parent, "children": {}, "finalizing": False}
    variables = {}
    if init_deadline_seconds is not None:
        variables["MPIFN_INIT_DEADLINE_SECONDS"] = str(init_deadline_seconds)
    response = calls.sync(copy.deepcopy(request), settings=settings_from({**os.environ, **variables}))
    kinds = _children_by_kind(response)
    problems = []
    for kind in ("Secret", "ConfigMap", "Job", "StatefulSet", "Service"):
        if kind not in kinds:
            problems.append(kind)
    assert not problems, (
        f"sync answered no {problems} for a valid MPIJob; status: {json.dumps(response.get('status'), indent=1)[:2000]}"
    )
    secret = next(c for c in kinds["Secret"] if c["metadata"]["name"] == f"{name}-ssh")
    configmap = next(c for c in kinds["ConfigMap"] if c["metadata"]["name"] == f"{name}-config")
    launcher = next(c for c in kinds["Job"] if c["metadata"]["name"] == f"{name}-launcher")
    workers = next(c for c in kinds["StatefulSet"] if c["metadata"]["name"] == f"{name}-worker")
    pod = launcher["spec"]["template"]["spec"]
    inits = pod.get("initContainers") or []
    assert inits, "the launcher Job has no init container"
    init = next(
        (c for c in inits if "mpifn-launcher-init" in " ".join((c.get("command") or []) + (c.get("args") or []))),
        inits[0],
    )
    main = pod["containers"][0]
    worker = workers["spec"]["template"]["spec"]["containers"][0]
    job = RenderedJob(
        name=name,
        namespace=namespace,
        replicas=replicas,
        slots=slots,
        min_replicas=min_replicas if min_replicas is not None else (1 if daemons else replicas),
        ssh_port=ssh_port,
        implementation=implementation,
        response=response,
        secret=secret,
        configmap=configmap,
        init_env=_env_dict(init),
        launcher_env=_env_dict(main),
        worker_env=_env_dict(worker),
        worker_command=(worker.get("command") or []) + (worker.get("args") or []),
        launcher_command=(main.get("command") or []) + (main.get("args") or []),
    )
    return job, request


def secret_files(secret: dict) -> dict[str, str]:
    files = {}
    for key, value in (secret.get("data") or {}).items():
        files[key] = base64.b64decode(value).decode()
    for key, value in (secret.get("stringData") or {}).items():
        files[key] = value
    return files


# --------------------------------------------------------------------------
# the lab: namespaces, processes, faults


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path


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
    namespaces: list[str] = field(default_factory=list)
    host_links: list[str] = field(default_factory=list)
    bridge: str | None = None
    procs: list[Proc] = field(default_factory=list)
    workers: dict[int, Proc] = field(default_factory=dict)
    made_etc_netns: bool = False

    @property
    def rendered(self) -> RenderedJob:
        if self.job is None:
            raise RuntimeError("the lab has no job yet: call setup(job) first")
        return self.job

    # ---- names
    def ns(self, role: str) -> str:
        return f"{NS_PREFIX}{self.tag}-{role}"

    @property
    def etc_mpi(self) -> Path:
        return self.root / "etc" / "mpi"

    @property
    def hostfile(self) -> Path:
        return self.etc_mpi / "hostfile"

    # ---- setup
    def setup(self, job: RenderedJob) -> None:
        self.job = job
        self._write_job_files()
        self._make_network()

    def _write_job_files(self) -> None:
        job = self.rendered
        ssh_dir = self.etc_mpi / "ssh"
        config_dir = self.etc_mpi / "config"
        for d in (self.root, self.root / "etc"):
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o755)
        # /etc/mpi is the launcher's emptyDir: writable by the user (fsGroup).
        self.etc_mpi.mkdir()
        os.chown(self.etc_mpi, 0, self.user.gid)
        os.chmod(self.etc_mpi, 0o775)
        ssh_dir.mkdir(mode=0o755)
        config_dir.mkdir(mode=0o755)
        files = secret_files(job.secret)
        assert {"ssh-privatekey", "ssh-publickey"} <= set(files), (
            f"Secret {job.secret['metadata']['name']} lacks ssh-privatekey/ssh-publickey: {sorted(files)}"
        )
        # As a Secret volume with fsGroup: owned by root, group-readable.
        for key, text in files.items():
            path = ssh_dir / key
            path.write_text(text)
            os.chown(path, 0, self.user.gid)
            os.chmod(path, 0o440)
        for key, text in (job.configmap.get("data") or {}).items():
            path = config_dir / key
            path.write_text(rewrite_etc_mpi(text, self.root))
            os.chmod(path, 0o755 if key in ("ssh", "discover_hosts.sh") else 0o644)

    def _hosts_file(self, role: str, hostname: str) -> str:
        """What cluster DNS answers in each pod.

        Every pod resolves the workers through the headless Service and the
        gateway; its own host name resolves locally (as /etc/hosts in a pod).
        Workers do NOT resolve the launcher: a Job's pod gets no DNS record
        unless it sets hostname + subdomain, which the launcher does not.
        """
        job = self.rendered
        lines = [
            "127.0.0.1\tlocalhost",
            f"{GATEWAY_IP}\tgateway.openfaas gateway.openfaas.svc.cluster.local",
        ]
        if role == "l":
            lines.append(f"{LAUNCHER_IP}\t{hostname}")
        for i in range(job.replicas):
            lines.append(f"{SUBNET_PREFIX}{WORKER_IP_BASE + i}\t{job.worker_host(i)} {job.worker_hostname(i)}")
        return "\n".join(lines) + "\n"

    def _make_network(self) -> None:
        job = self.rendered
        self.made_etc_netns = not Path("/etc/netns").exists()
        self.bridge = f"mfb{self.tag}"
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        run(["ip", "link", "set", self.bridge, "up"])
        roles = [("gw", GATEWAY_IP, "gateway"), ("l", LAUNCHER_IP, f"{job.name}-launcher")]
        roles += [
            (f"w{i}", f"{SUBNET_PREFIX}{WORKER_IP_BASE + i}", job.worker_hostname(i)) for i in range(job.replicas)
        ]
        for role, address, hostname in roles:
            ns = self.ns(role)
            run(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
            etc = Path("/etc/netns") / ns
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(self._hosts_file(role, hostname))
            # No DNS server in the lab: unknown names fail at once on loopback.
            (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
            host_link = f"mf{self.tag}{role}"
            run(["ip", "link", "add", host_link, "type", "veth", "peer", "name", "eth0", "netns", ns])
            self.host_links.append(host_link)
            run(["ip", "link", "set", host_link, "master", self.bridge, "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            run(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])

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
        prefix = ["ip", "netns", "exec", self.ns(role)]
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

    def wait_for_log(self, proc: Proc, needle: str, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        for _ in range(int(seconds / 0.05) + 1):
            text = proc.log.read_text(errors="replace")
            if needle in text:
                return
            if proc.popen.poll() is not None:
                raise AssertionError(f"{proc.name} exited ({proc.popen.returncode}) before {needle!r}:\n{text}")
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        raise AssertionError(f"{proc.name}: no {needle!r} within {seconds}s:\n{proc.log.read_text(errors='replace')}")

    def stop(self, proc: Proc) -> None:
        if proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=5)

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
        self.wait_for_log(proc, "Server listening on")
        self.workers[index] = proc
        return proc

    def start_workers(self, skip=()) -> None:
        for i in range(self.rendered.replicas):
            if i not in skip:
                self.start_worker(i)

    def stop_worker(self, index: int) -> None:
        self.stop(self.workers.pop(index))

    def drop_all_packets(self, index: int) -> None:
        """Make worker <index>'s namespace drop every IP packet it gets or sends."""
        rules = (
            "table inet mpifn_drop {\n"
            "  chain input { type filter hook input priority 0; policy drop; }\n"
            "  chain output { type filter hook output priority 0; policy drop; }\n"
            "}\n"
        )
        run(["ip", "netns", "exec", self.ns(f"w{index}"), "nft", "-f", "-"], input=rules)

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
        self.wait_for_log(proc, "listening")
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

    # ---- teardown
    def teardown(self) -> None:
        errors = []
        for proc in reversed(self.procs):
            try:
                self.stop(proc)
            except Exception as error:  # keep tearing down
                errors.append(f"stop {proc.name}: {error}")
        # Anything still inside our namespaces (orted, ssh sessions) was
        # started by this test: end it by pid so the namespaces can go.
        for ns in self.namespaces:
            pids = _pids_in_netns(ns)
            _kill_pids(pids)
            _wait_gone(pids)
        for ns in self.namespaces:
            result = run(["ip", "netns", "del", ns], check=False)
            if result.returncode != 0:
                errors.append(f"ip netns del {ns}: {result.stderr}")
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)
        if self.made_etc_netns:
            with contextlib.suppress(OSError):
                Path("/etc/netns").rmdir()  # only if empty: others may use it
        for link in self.host_links:
            run(["ip", "link", "del", link], check=False)
        if self.bridge:
            run(["ip", "link", "del", self.bridge], check=False)
        for i in range(WORKER_IP_BASE):
            shutil.rmtree(self.user.home / f"sshd-{self.tag}-w{i}", ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
        leftover = [
            n
            for n in run(["ip", "netns", "list"], check=False).stdout.split()
            if n.startswith(f"{NS_PREFIX}{self.tag}")
        ]
        if leftover or errors:
            raise AssertionError(f"teardown left {leftover}; errors: {errors}")
