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

import fcntl
import json
import os
import shutil
import time
from pathlib import Path

from testkit.cluster import Cluster, Step
from testkit.containers import ContainerRuntime
from testkit.host import (
    CGROUP_ROOT,
    HostState,
    cgroup_dirs,
    kill_all,
    make_cgroups,
    mounts_under,
    pod_processes,
    processes_mentioning,
    remove_cgroups,
    run,
    unmount_all,
)
from testkit.loopback import http_get
from testkit.node_config import corefile, kube_proxy_config, kubelet_config
from testkit.processes import ComponentError, wait_ready
from testkit.server import free_port
from testkit.tools import tool_binary

LOCK = Path("/tmp/mpifn-e2e-node.lock")
NODE_NAME = "mpifn-node"
BRIDGE = "mpifn-br0"
POD_CIDR = "10.232.0.0/24"  # the project's test range beside testkit/lab's 10.231.0.0/24
NODE_IP = "10.232.0.1"  # the bridge: the pods' gateway, the node's address, CoreDNS
SERVICE_CIDR = "10.96.0.0/16"  # as the control plane's --service-cluster-ip-range
CLUSTER_DOMAIN = "cluster.local"
NODE_PROGRAMS = ("containerd", "runc", "ctr", "buildah", "iptables", "ip")


class Node(ContainerRuntime, Cluster):
    """The control plane plus containerd, CoreDNS, kubelet and kube-proxy on this machine.

    Its start-up is the Cluster's (binaries, folder, steps) extended: the node's binaries and
    programs, a fixed folder taken under LOCK, and, around the control plane's steps, the
    machine's state recorded first and the node's daemons after (no kwok, no fake nodes)."""

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
        self.host = HostState()
        self.root: Path | None = None  # self.dir, kept after stop() for leftovers()
        self.containerd_sock: Path | None = None
        self.stop_errors: list[str] = []

    # -- start-up: the Cluster's, extended -----------------------------------

    def binaries(self) -> dict[str, Path]:
        cluster = super().binaries()
        del cluster["kwok"]
        return {
            **cluster,
            "kubelet": tool_binary("kubernetes", "kubelet"),
            "kube-proxy": tool_binary("kubernetes", "kube-proxy"),
            "crictl": tool_binary("crictl"),
            "coredns": tool_binary("coredns"),
        }

    def make_dir(self) -> Path:
        """The node's fixed folder, after checking the machine can run a node and taking LOCK."""
        for program in NODE_PROGRAMS:
            if shutil.which(program) is None:
                raise ComponentError(f"{program} is not installed: run scripts/install-node-deps.sh (as root)")
        if os.geteuid() != 0:
            raise ComponentError("the real-node suite runs containerd and kubelet: it needs root")
        self._take_lock()
        folder = Path(os.environ.get("MPIFN_E2E_NODE_TMP", "/tmp")) / f"mpifn-e2e-node-{os.getpid()}"
        folder.mkdir(mode=0o755)
        self.root = folder
        return folder

    def start_steps(self) -> list[Step]:
        return [
            ("host state", lambda: self.host.record(BRIDGE)),
            *self.control_plane_steps(),
            ("bridge", self._make_bridge),
            ("containerd", lambda: self._start_containerd(BRIDGE, POD_CIDR, NODE_IP)),
            ("images", self._import_images),
            ("coredns", self._start_coredns),
            ("cgroups", make_cgroups),
            ("kubelet", self._start_kubelet),
            ("kube-proxy", self._start_kube_proxy),
        ]

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
            # whatever still runs in the pods' cgroups (containers outlive a killed shim)
            ("pod processes", lambda: kill_all(pod_processes, rounds=5)),
            ("mounts", lambda: unmount_all(self.dir) if self.dir is not None else None),
            ("netns", self.host.delete_new_netns),
            ("bridge", self._delete_bridge),
            ("iptables", self.host.restore_iptables),
            ("sysctls", self.host.restore_sysctls),
            ("cgroups", remove_cgroups),
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
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            found.append(f"bridge {BRIDGE}")
        found += self.host.leftovers()
        found += [f"process {pid} in the pods' cgroups" for pid in sorted(pod_processes())]
        found += [f"cgroup {d}" for d in cgroup_dirs()]
        return found

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

    # -- the node's daemons ----------------------------------------------------

    def _make_bridge(self) -> None:
        prefix = POD_CIDR.split("/")[1]
        run(["ip", "link", "add", BRIDGE, "type", "bridge"], "ip link add")
        run(["ip", "addr", "add", f"{NODE_IP}/{prefix}", "dev", BRIDGE], "ip addr add")
        run(["ip", "link", "set", BRIDGE, "up"], "ip link set up")

    def _start_coredns(self) -> None:
        assert self.dir is not None and self.kubeconfig is not None
        ready_port = free_port()
        config = self.dir / "Corefile"
        config.write_text(corefile(NODE_IP, ready_port, self.kubeconfig, CLUSTER_DOMAIN))
        proc = self._spawn("coredns", [str(self.bin["coredns"]), "-conf", str(config)])
        wait_ready(proc, lambda: http_get(f"http://127.0.0.1:{ready_port}/ready")[0] == 200, "CoreDNS /ready", 90)

    def _start_kubelet(self) -> None:
        assert self.dir is not None and self.containerd_sock is not None
        root = self.dir / "kubelet"
        root.mkdir()
        resolv = self.dir / "resolv.conf"  # pods with dnsPolicy Default get this: no nameserver
        resolv.write_text("")
        healthz = free_port()
        config = kubelet_config(
            runtime_socket=self.containerd_sock,
            address=NODE_IP,
            port=free_port(),
            healthz_port=healthz,
            cgroup_root=CGROUP_ROOT,
            cluster_dns=NODE_IP,
            cluster_domain=CLUSTER_DOMAIN,
            resolv_conf=resolv,
            pod_logs=self.dir / "pod-logs",
        )
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
        assert self.dir is not None and self.kubeconfig is not None
        path = self.dir / "kube-proxy-config.json"
        if not path.exists():
            config = kube_proxy_config(
                kubeconfig=self.kubeconfig,
                node_name=NODE_NAME,
                pod_cidr=POD_CIDR,
                healthz_port=free_port(),
                metrics_port=free_port(),
            )
            path.write_text(json.dumps(config, indent=2))
        return path

    def _start_kube_proxy(self) -> None:
        config = self._kube_proxy_config()
        healthz = json.loads(config.read_text())["healthzBindAddress"]
        proc = self._spawn("kube-proxy", [str(self.bin["kube-proxy"]), f"--config={config}", "--v=1"])
        wait_ready(proc, lambda: http_get(f"http://{healthz}/healthz")[0] == 200, "kube-proxy /healthz", 90)

    # -- teardown steps ------------------------------------------------------

    def _kube_proxy_cleanup(self) -> None:
        if "kube-proxy" in getattr(self, "bin", {}) and self.dir is not None and self.kubeconfig is not None:
            run(
                [str(self.bin["kube-proxy"]), f"--config={self._kube_proxy_config()}", "--cleanup"],
                "kube-proxy --cleanup",
                check=False,
            )

    def _delete_bridge(self) -> None:
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            # veths of pods still attached go with their namespaces; delete any stray one
            for port in (Path(f"/sys/class/net/{BRIDGE}/brif")).iterdir():
                run(["ip", "link", "delete", port.name], f"ip link delete {port.name}", check=False)
            run(["ip", "link", "delete", BRIDGE], f"ip link delete {BRIDGE}")
