"""This machine's state that a real node changes, recorded before it starts so that stop()
restores it and leftovers() names whatever stayed: sysctls, iptables chains and rules of
kubelet, kube-proxy and the CNI plugins, network namespaces, mounts, processes and the pods'
cgroups."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from testkit.processes import ComponentError

CGROUP_ROOT = "/mpifn-e2e-node"
CGROUP_FS = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/var/run/netns")

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


def _mentions_own(rule: str) -> bool:
    return any(OWN_CHAIN.match(word) for word in rule.split())


class HostState:
    """What the machine looked like before the node: restored, and compared, after it."""

    def __init__(self) -> None:
        self.sysctls: dict[str, str | None] = {}
        self.iptables: dict[tuple[str, str], tuple[set[str], list[str]]] = {}
        self.netns_before: set[str] = set()

    def record(self, bridge: str) -> None:
        """The state before the node; a ComponentError if an earlier run left its bridge,
        cgroups or chains (or another cluster runs here)."""
        if Path(f"/sys/class/net/{bridge}").exists():
            raise ComponentError(f"the bridge {bridge} exists already: an earlier run did not clean up")
        stale = cgroup_dirs()
        if stale:
            raise ComponentError(f"pod cgroups of an earlier run are left: {stale}")
        self.sysctls = {key: read_sysctl(key) for key in SYSCTLS}
        for binary in IPTABLES:
            for table in IPTABLES_TABLES:
                self.iptables[(binary, table)] = iptables_rules(binary, table)
                own = [c for c in self.iptables[(binary, table)][0] if OWN_CHAIN.match(c)]
                if own:
                    raise ComponentError(f"{binary} -t {table} has chains {own} already: another cluster runs here")
        self.netns_before = set(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else set()

    def new_netns(self) -> list[str]:
        now = set(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else set()
        return sorted(n for n in now - self.netns_before if n.startswith("cni-"))

    def delete_new_netns(self) -> None:
        for name in self.new_netns():
            run(["ip", "netns", "delete", name], f"ip netns delete {name}", check=False)

    def restore_iptables(self) -> None:
        for (binary, table), (chains, rules) in self.iptables.items():
            now_chains, now_rules = iptables_rules(binary, table)
            for rule in now_rules:
                if rule not in rules and _mentions_own(rule) and rule.split()[1] in chains:
                    run([binary, "-w", "-t", table, "-D", *shlex.split(rule)[1:]], f"{binary} -D", check=False)
            added = sorted(c for c in now_chains - chains if OWN_CHAIN.match(c))
            for chain in added:
                run([binary, "-w", "-t", table, "-F", chain], f"{binary} -F {chain}", check=False)
            for chain in added:
                run([binary, "-w", "-t", table, "-X", chain], f"{binary} -X {chain}", check=False)

    def restore_sysctls(self) -> None:
        for key, value in self.sysctls.items():
            if value is not None and read_sysctl(key) != value:
                write_sysctl(key, value)

    def leftovers(self) -> list[str]:
        """Network namespaces, iptables chains and rules, and sysctls that differ from before."""
        found = [f"netns {n}" for n in self.new_netns()]
        for (binary, table), (chains, rules) in self.iptables.items():
            now_chains, now_rules = iptables_rules(binary, table)
            found += [f"{binary} -t {table} chain {c}" for c in sorted(now_chains - chains)]
            found += [f"{binary} -t {table} rule {r}" for r in now_rules if r not in rules and _mentions_own(r)]
        for key, value in self.sysctls.items():
            if read_sysctl(key) != value:
                found.append(f"sysctl {key}={read_sysctl(key)} (was {value})")
        return found


def kill_all(find: Callable[[], Iterable[int]], rounds: int) -> None:
    """SIGKILL what find() names until it names nothing, at most `rounds` times a second apart."""
    for _ in range(rounds):
        pids = list(find())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        time.sleep(1)


def unmount_all(root: Path) -> None:
    for _ in range(3):
        points = mounts_under(root)
        if not points:
            return
        for point in points:
            run(["umount", "--recursive", "--lazy", point], f"umount {point}", check=False)


def make_cgroups() -> None:
    """The pods' parent cgroup (the kubelet's cgroupRoot) in every cgroup v1 hierarchy."""
    for hierarchy in CGROUP_FS.iterdir():
        if not (hierarchy / "cgroup.procs").exists() or (hierarchy / "cgroup.controllers").exists():
            continue  # not a cgroup v1 hierarchy
        own = hierarchy / CGROUP_ROOT.lstrip("/")
        own.mkdir()
        for inherited in ("cpuset.cpus", "cpuset.mems"):  # an empty cpuset admits no task
            if (hierarchy / inherited).exists():
                (own / inherited).write_text((hierarchy / inherited).read_text())


def remove_cgroups() -> None:
    for top in cgroup_dirs():
        for _ in range(5):
            dirs = sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True)
            for d in [*dirs, top]:
                with contextlib.suppress(OSError):
                    d.rmdir()
            if not top.exists():
                break
            time.sleep(1)
