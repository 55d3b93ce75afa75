"""One real Kubernetes node on this machine, for the e2e_node tests.

On top of the control plane of tests/e2e_k8s (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler; no kwok), :class:`Node` starts

- containerd (Debian's) with its own config, root, state and socket in the
  node's temporary folder, runc, and CNI bridge networking on the project's
  own range POD_CIDR (bridge BRIDGE, host-local addresses kept in the folder);
- the images: the pause image and the project's four images, imported into
  containerd's k8s.io namespace from buildah's storage;
- CoreDNS on the bridge address, serving the cluster domain from the API
  server and nothing else (pods never reach the machine's own resolver): it is
  the kubelet's clusterDNS;
- kubelet (cgroupfs driver, pods under the cgroup CGROUP_ROOT) and kube-proxy
  in iptables mode, so Services answer on their ClusterIP.

:meth:`Node.stop` undoes everything, whether the start completed or not:
daemons and container shims stopped, mounts under the folder unmounted, pod
network namespaces, the bridge and CNI state deleted, the iptables chains
kubelet, kube-proxy and CNI added removed, sysctls restored, the pod cgroups
removed. :meth:`Node.leftovers` lists what is still there (nothing, when all
went well); the suite's session fixture fails if anything is.

Only one node runs on the machine at a time (LOCK): the bridge, range and
cgroup names are fixed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from testkit.cluster import (
    Cluster,
    ComponentError,
    control_plane_binaries,
    http_get,
    tool_binary,
    wait_ready,
)
from testkit.server import free_port

LOCK = Path("/tmp/mpifn-e2e-node.lock")
NODE_NAME = "mpifn-node"
BRIDGE = "mpifn-br0"
POD_CIDR = "10.232.0.0/24"  # the project's test range beside tests/e2e_mpi's 10.231.0.0/24
NODE_IP = "10.232.0.1"  # the bridge: the pods' gateway, the node's address, CoreDNS
SERVICE_CIDR = "10.96.0.0/16"  # as the control plane's --service-cluster-ip-range
CLUSTER_DOMAIN = "cluster.local"
CGROUP_ROOT = "/mpifn-e2e-node"
CGROUP_FS = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/var/run/netns")
PAUSE_IMAGE = os.environ.get("PAUSE_IMAGE", "localhost/mpifn/pause:1.0")
CNI_BIN_DIR = os.environ.get("MPIFN_CNI_BIN_DIR", "/usr/lib/cni")

# What kubelet, kube-proxy and the CNI bridge may change; restored by stop().
SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
)
# Chains with these prefixes are kubelet's, kube-proxy's and the CNI plugins'.
OWN_CHAIN = re.compile(r"^(KUBE-|CNI-)")
IPTABLES = ("iptables", "ip6tables")
# Every table, present or not yet: kubelet creates mangle, which may not exist before.
IPTABLES_TABLES = ("filter", "nat", "mangle", "raw", "security")


def project_images() -> list[str]:
    """The images `make images` builds, named as the Makefile names them."""
    registry = os.environ.get("REGISTRY", "docker.io/mpifn")
    tag = os.environ.get("TAG", "0.1.0")
    return [f"{registry}/{name}:{tag}" for name in ("mpibase", "sync", "finalize", "probe")]


def run(argv: list[str], what: str, timeout: float = 120, check: bool = True, **kw) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    except FileNotFoundError as exc:
        raise ComponentError(f"{what}: {argv[0]} is not installed (scripts/install-node-deps.sh installs it)") from exc
    if check and proc.returncode != 0:
        raise ComponentError(f"{what} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc


def read_sysctl(key: str) -> str | None:
    path = Path("/proc/sys") / key.replace(".", "/")
    try:
        return path.read_text().strip()
    except OSError:
        return None


def write_sysctl(key: str, value: str) -> None:
    (Path("/proc/sys") / key.replace(".", "/")).write_text(value + "\n")


def iptables_rules(binary: str, table: str) -> tuple[set[str], list[str]]:
    """(chains, rules) of one table as iptables-save prints them."""
    out = run([f"{binary}-save", "-t", table], f"{binary}-save -t {table}", check=False).stdout
    chains = {line[1:].split()[0] for line in out.splitlines() if line.startswith(":")}
    rules = [line for line in out.splitlines() if line.startswith("-A ")]
    return chains, rules


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below root, deepest first."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == str(root) or point.startswith(f"{root}/"):
            found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose command line contains text."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append((int(entry.name), cmdline.strip()))
    return found


def pod_processes() -> set[int]:
    """Every process in the pods' cgroups, in any hierarchy."""
    pids: set[int] = set()
    for top in cgroup_dirs():
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids |= {int(pid) for pid in procs.read_text().split()}
    return pids


def cgroup_dirs() -> list[Path]:
    return [d / CGROUP_ROOT.lstrip("/") for d in CGROUP_FS.iterdir() if (d / CGROUP_ROOT.lstrip("/")).is_dir()]


class Node(Cluster):
    """The control plane plus containerd, CoreDNS, kubelet and kube-proxy on this machine."""

    def __init__(self) -> None:
        super().__init__(nodes=0)
        self.apiserver_args = [
            # logs and exec reach the kubelet at the node's address, not at its name
            "--kubelet-preferred-address-types=InternalIP",
            # Pods reach the API as in any cluster: the `kubernetes` Service's endpoint is the
            # node's bridge address. The API server starts before the bridge exists, so it
            # listens on every address of the machine while the node runs (these flags
            # override the control plane's loopback-only ones); tokens only, anonymous refused.
            "--bind-address=0.0.0.0",
            f"--advertise-address={NODE_IP}",
            "--endpoint-reconciler-type=lease",
        ]
        self._lock: int | None = None
        self._sysctls: dict[str, str | None] = {}
        self._iptables: dict[tuple[str, str], tuple[set[str], list[str]]] = {}
        self._netns_before: set[str] = set()
        self.root: Path | None = None  # self.dir, kept after stop() for leftovers()
        self.containerd_sock: Path | None = None
        self.stop_errors: list[str] = []

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Node:
        t0 = time.monotonic()
        self.bin = {
            **control_plane_binaries(),
            "kubelet": tool_binary("kubernetes", "kubelet"),
            "kube-proxy": tool_binary("kubernetes", "kube-proxy"),
            "crictl": tool_binary("crictl"),
            "coredns": tool_binary("coredns"),
        }
        for program in ("containerd", "runc", "ctr", "buildah", "iptables", "ip"):
            if shutil.which(program) is None:
                raise ComponentError(f"{program} is not installed: run scripts/install-node-deps.sh (as root)")
        if os.geteuid() != 0:
            raise ComponentError("the real-node suite runs containerd and kubelet: it needs root")
        self._take_lock()
        self.dir = Path(os.environ.get("MPIFN_E2E_NODE_TMP", "/tmp")) / f"mpifn-e2e-node-{os.getpid()}"
        self.dir.mkdir(mode=0o755)
        self.root = self.dir
        try:
            self._record_host_state()
            self._step("etcd", self._start_etcd)
            self._step("kube-apiserver", self._start_apiserver)
            self._step("kube-controller-manager", self._start_controller_manager)
            self._step("kube-scheduler", self._start_scheduler)
            self._step("bridge", self._make_bridge)
            self._step("containerd", self._start_containerd)
            self._step("images", self._import_images)
            self._step("coredns", self._start_coredns)
            self._step("cgroups", self._make_cgroups)
            self._step("kubelet", self._start_kubelet)
            self._step("kube-proxy", self._start_kube_proxy)
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Stop and undo everything; safe after a partial start, never raises."""
        if self.dir is None:
            self._release_lock()
            return
        steps = [
            ("kube-proxy", lambda: self._stop_named("kube-proxy")),
            ("kube-proxy --cleanup", self._kube_proxy_cleanup),
            ("kubelet", lambda: self._stop_named("kubelet")),
            ("pods", self._remove_all_pods),
            ("containerd", lambda: self._stop_named("containerd")),
            ("shims", self._kill_shims),
            ("pod processes", self._kill_pod_processes),
            ("mounts", self._unmount_all),
            ("netns", self._delete_new_netns),
            ("bridge", self._delete_bridge),
            ("iptables", self._restore_iptables),
            ("sysctls", self._restore_sysctls),
            ("cgroups", self._remove_cgroups),
        ]
        self.stop_errors = []
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # keep undoing the rest; leftovers() reports what stayed
                self.stop_errors.append(f"{name}: {exc}")
        super().stop()  # the control plane, then the folder (logs copied if asked)
        self._release_lock()

    def leftovers(self) -> list[str]:
        """What a stopped node left on the machine (empty when the cleanup was complete)."""
        found: list[str] = []
        if self.root is not None:
            found += [f"process {pid}: {cmd}" for pid, cmd in processes_mentioning(str(self.root))]
            found += [f"mount {m}" for m in mounts_under(self.root)]
            if self.root.exists():
                found.append(f"folder {self.root}")
        found += [f"netns {n}" for n in self._new_netns()]
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            found.append(f"bridge {BRIDGE}")
        for (binary, table), (chains, rules) in self._iptables.items():
            now_chains, now_rules = iptables_rules(binary, table)
            found += [f"{binary} -t {table} chain {c}" for c in sorted(now_chains - chains)]
            found += [f"{binary} -t {table} rule {r}" for r in now_rules if r not in rules and _mentions_own(r)]
        for key, value in self._sysctls.items():
            if read_sysctl(key) != value:
                found.append(f"sysctl {key}={read_sysctl(key)} (was {value})")
        found += [f"process {pid} in the pods' cgroups" for pid in sorted(pod_processes())]
        found += [f"cgroup {d}" for d in cgroup_dirs()]
        return found

    # -- the machine's state before the node -------------------------------

    def _take_lock(self) -> None:
        fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + 600
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise ComponentError(f"another real-node suite holds {LOCK} for over 10 minutes") from None
                time.sleep(2)
        self._lock = fd

    def _release_lock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _record_host_state(self) -> None:
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            raise ComponentError(f"the bridge {BRIDGE} exists already: an earlier run did not clean up")
        stale = cgroup_dirs()
        if stale:
            raise ComponentError(f"pod cgroups of an earlier run are left: {stale}")
        self._sysctls = {key: read_sysctl(key) for key in SYSCTLS}
        for binary in IPTABLES:
            for table in IPTABLES_TABLES:
                self._iptables[(binary, table)] = iptables_rules(binary, table)
                own = [c for c in self._iptables[(binary, table)][0] if OWN_CHAIN.match(c)]
                if own:
                    raise ComponentError(f"{binary} -t {table} has chains {own} already: another cluster runs here")
        self._netns_before = set(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else set()

    # -- the node ------------------------------------------------------------

    def _make_bridge(self) -> None:
        prefix = POD_CIDR.split("/")[1]
        run(["ip", "link", "add", BRIDGE, "type", "bridge"], "ip link add")
        run(["ip", "addr", "add", f"{NODE_IP}/{prefix}", "dev", BRIDGE], "ip addr add")
        run(["ip", "link", "set", BRIDGE, "up"], "ip link set up")

    def _start_containerd(self) -> None:
        assert self.dir is not None
        base = self.dir / "containerd"
        cni = self.dir / "cni"
        (cni / "net.d").mkdir(parents=True)
        (cni / "net.d" / "10-mpifn.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "mpifn-e2e",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": BRIDGE,
                            "isGateway": True,
                            "ipMasq": False,  # pods talk to the node and each other only
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(cni / "ipam"),
                            },
                        },
                        {"type": "loopback"},
                    ],
                },
                indent=2,
            )
        )
        self.containerd_sock = base / "containerd.sock"
        config = base / "config.toml"
        base.mkdir(exist_ok=True)
        config.write_text(
            f"""version = 2
root = "{base}/root"
state = "{base}/state"
[grpc]
  address = "{self.containerd_sock}"
[ttrpc]
  address = "{base}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE (kubelet: oomScoreAdj 0)
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni}/net.d"
"""
        )
        proc = self._spawn("containerd", ["containerd", "--config", str(config), "--log-level", "warn"])
        wait_ready(proc, lambda: self.crictl("info").returncode == 0, "containerd CRI (crictl info)", timeout=60)

    def crictl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        assert self.containerd_sock is not None
        argv = [str(self.bin["crictl"]), f"--runtime-endpoint=unix://{self.containerd_sock}", "--timeout=30s", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)

    def ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        assert self.containerd_sock is not None
        return run(["ctr", f"--address={self.containerd_sock}", "-n", "k8s.io", *args], f"ctr {args[0]}", timeout)

    def _import_images(self) -> None:
        for name in [PAUSE_IMAGE, *project_images()]:
            self.import_image(name)

    def import_image(self, name: str) -> None:
        """An image from buildah's storage into containerd's k8s.io namespace.

        Its archive is cached outside the repository by image ID, so only a
        rebuilt image is exported again.
        """
        cache = Path(os.environ.get("MPIFN_IMAGE_CACHE") or Path.home() / ".cache" / "mpifn-images") / "archives"
        cache.mkdir(parents=True, exist_ok=True)
        found = run(["buildah", "images", "--noheading", "--no-trunc", "--format", "{{.ID}}", name], name, check=False)
        if found.returncode != 0 or not found.stdout.strip():
            raise ComponentError(
                f"image {name} is not in buildah's storage: run `make e2e-node` (it builds it), or "
                "scripts/base-images.sh and BUILDER=buildah scripts/images.sh build"
            )
        archive = cache / f"{found.stdout.split()[0].removeprefix('sha256:')}.tar"
        if not archive.is_file():
            part = archive.with_suffix(".part")
            run(["buildah", "push", "--quiet", name, f"oci-archive:{part}:{name}"], f"export of {name}", 600)
            part.rename(archive)
        self.ctr("images", "import", "--no-unpack", str(archive))
        if name not in self.ctr("images", "ls", "-q").stdout.split():
            raise ComponentError(f"{name} is not in containerd after `ctr images import {archive}`")

    def _start_coredns(self) -> None:
        assert self.dir is not None
        ready_port = free_port()
        corefile = self.dir / "Corefile"
        # No forward plugin: names outside the cluster domain get no answer
        # instead of the machine's own resolver.
        corefile.write_text(
            f""".:53 {{
    bind {NODE_IP}
    errors
    ready 127.0.0.1:{ready_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {self.kubeconfig} e2e
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""
        )
        proc = self._spawn("coredns", [str(self.bin["coredns"]), "-conf", str(corefile)])
        wait_ready(proc, lambda: http_get(f"http://127.0.0.1:{ready_port}/ready")[0] == 200, "CoreDNS /ready", 90)

    def _make_cgroups(self) -> None:
        """The pods' parent cgroup (the kubelet's cgroupRoot) in every cgroup v1 hierarchy."""
        for hierarchy in CGROUP_FS.iterdir():
            if not (hierarchy / "cgroup.procs").exists() or (hierarchy / "cgroup.controllers").exists():
                continue  # not a cgroup v1 hierarchy
            own = hierarchy / CGROUP_ROOT.lstrip("/")
            own.mkdir()
            for inherited in ("cpuset.cpus", "cpuset.mems"):  # an empty cpuset admits no task
                if (hierarchy / inherited).exists():
                    (own / inherited).write_text((hierarchy / inherited).read_text())

    def _start_kubelet(self) -> None:
        assert self.dir is not None
        root = self.dir / "kubelet"
        root.mkdir()
        resolv = self.dir / "resolv.conf"  # pods with dnsPolicy Default get this: no nameserver
        resolv.write_text("")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "containerRuntimeEndpoint": f"unix://{self.containerd_sock}",
            "address": NODE_IP,
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": (healthz := free_port()),
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            # this machine: cgroup v1, and no CAP_SYS_RESOURCE for a negative oom_score_adj
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": CGROUP_ROOT,
            "oomScoreAdj": 0,
            "failSwapOn": False,
            "clusterDNS": [NODE_IP],
            "clusterDomain": CLUSTER_DOMAIN,
            "resolvConf": str(resolv),
            "podLogsDir": str(self.dir / "pod-logs"),
            "registerNode": True,
            "serializeImagePulls": False,
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "maxPods": 30,
            "syncFrequency": "5s",
            "fileCheckFrequency": "5s",
            "nodeStatusUpdateFrequency": "5s",
            "shutdownGracePeriod": "0s",
            "localStorageCapacityIsolation": False,
        }
        config_path = self.dir / "kubelet-config.json"
        config_path.write_text(json.dumps(config, indent=2))
        proc = self._spawn(
            "kubelet",
            [
                str(self.bin["kubelet"]),
                f"--config={config_path}",
                f"--kubeconfig={self.kubeconfig}",
                f"--root-dir={root}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                "--v=1",
            ],
        )
        wait_ready(proc, lambda: http_get(f"http://127.0.0.1:{healthz}/healthz")[0] == 200, "kubelet /healthz", 120)

        def ready() -> bool:
            node = self.kubectl("get", "node", NODE_NAME, "-o", "json")
            return any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in node.get("status", {}).get("conditions", [])
            ) and not node.get("spec", {}).get("taints")

        wait_ready(proc, ready, f"node {NODE_NAME} Ready and untainted", 120)

    def _kube_proxy_config(self) -> Path:
        assert self.dir is not None
        path = self.dir / "kube-proxy-config.json"
        if not path.exists():
            config = {
                "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                "kind": "KubeProxyConfiguration",
                "mode": "iptables",
                "clientConnection": {"kubeconfig": str(self.kubeconfig)},
                "hostnameOverride": NODE_NAME,
                "clusterCIDR": POD_CIDR,
                "bindAddress": "127.0.0.1",
                "healthzBindAddress": f"127.0.0.1:{free_port()}",
                "metricsBindAddress": f"127.0.0.1:{free_port()}",
                # Pods reach Services of pods on the same bridge: masquerading makes
                # the replies come back through the node (no br_netfilter needed).
                "iptables": {"masqueradeAll": True, "localhostNodePorts": False, "syncPeriod": "5s"},
                # leave the machine's conntrack sysctls alone
                "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            }
            path.write_text(json.dumps(config, indent=2))
        return path

    def _start_kube_proxy(self) -> None:
        config = self._kube_proxy_config()
        healthz = json.loads(config.read_text())["healthzBindAddress"]
        proc = self._spawn("kube-proxy", [str(self.bin["kube-proxy"]), f"--config={config}", "--v=1"])
        wait_ready(proc, lambda: http_get(f"http://{healthz}/healthz")[0] == 200, "kube-proxy /healthz", 90)

    # -- teardown steps ------------------------------------------------------

    def _stop_named(self, name: str) -> None:
        for proc in [p for p in self.processes if p.name == name]:
            proc.stop(grace=20)
            self.processes.remove(proc)

    def _kube_proxy_cleanup(self) -> None:
        if "kube-proxy" in getattr(self, "bin", {}) and self.dir is not None and self.kubeconfig is not None:
            run(
                [str(self.bin["kube-proxy"]), f"--config={self._kube_proxy_config()}", "--cleanup"],
                "kube-proxy --cleanup",
                check=False,
            )

    def _remove_all_pods(self) -> None:
        if self.containerd_sock is None or not any(p.name == "containerd" and p.running() for p in self.processes):
            return
        self.crictl("rm", "--all", "--force", timeout=120)
        self.crictl("rmp", "--all", "--force", timeout=180)

    def _kill_shims(self) -> None:
        """Container shims outlive containerd by design; these are the ones it started."""
        if self.root is None:
            return
        for _ in range(3):
            found = processes_mentioning(str(self.root))
            if not found:
                return
            for pid, _cmd in found:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            time.sleep(1)

    def _kill_pod_processes(self) -> None:
        """Whatever still runs in the pods' cgroups (containers outlive a killed shim)."""
        for _ in range(5):
            pids = pod_processes()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            time.sleep(1)

    def _unmount_all(self) -> None:
        if self.dir is None:
            return
        for _ in range(3):
            points = mounts_under(self.dir)
            if not points:
                return
            for point in points:
                run(["umount", "--recursive", "--lazy", point], f"umount {point}", check=False)

    def _new_netns(self) -> list[str]:
        now = set(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else set()
        return sorted(n for n in now - self._netns_before if n.startswith("cni-"))

    def _delete_new_netns(self) -> None:
        for name in self._new_netns():
            run(["ip", "netns", "delete", name], f"ip netns delete {name}", check=False)

    def _delete_bridge(self) -> None:
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            # veths of pods still attached go with their namespaces; delete any stray one
            for port in (Path(f"/sys/class/net/{BRIDGE}/brif")).iterdir():
                run(["ip", "link", "delete", port.name], f"ip link delete {port.name}", check=False)
            run(["ip", "link", "delete", BRIDGE], f"ip link delete {BRIDGE}")

    def _restore_iptables(self) -> None:
        for (binary, table), (chains, rules) in self._iptables.items():
            now_chains, now_rules = iptables_rules(binary, table)
            for rule in now_rules:
                if rule not in rules and _mentions_own(rule) and rule.split()[1] in chains:
                    run([binary, "-w", "-t", table, "-D", *shlex.split(rule)[1:]], f"{binary} -D", check=False)
            added = sorted(c for c in now_chains - chains if OWN_CHAIN.match(c))
            for chain in added:
                run([binary, "-w", "-t", table, "-F", chain], f"{binary} -F {chain}", check=False)
            for chain in added:
                run([binary, "-w", "-t", table, "-X", chain], f"{binary} -X {chain}", check=False)

    def _restore_sysctls(self) -> None:
        for key, value in self._sysctls.items():
            if value is not None and read_sysctl(key) != value:
                write_sysctl(key, value)

    def _remove_cgroups(self) -> None:
        for top in cgroup_dirs():
            for _ in range(5):
                dirs = sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True)
                for d in [*dirs, top]:
                    with contextlib.suppress(OSError):
                        d.rmdir()
                if not top.exists():
                    break
                time.sleep(1)


def _mentions_own(rule: str) -> bool:
    return any(OWN_CHAIN.match(word) for word in rule.split())
