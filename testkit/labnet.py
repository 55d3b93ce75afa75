"""The MPI lab's network: a Linux network namespace per pod (gateway, launcher, workers) on
a bridge, all on 10.231.0.0/24 with no default route, each resolving the job's names through
its own /etc/netns/<ns>/hosts."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from testkit.mpijob import RenderedJob

SUBNET_PREFIX = "10.231.0."
GATEWAY_IP = SUBNET_PREFIX + "2"
LAUNCHER_IP = SUBNET_PREFIX + "3"
WORKER_IP_BASE = 10  # worker i is 10.231.0.(10 + i)
NS_PREFIX = "mpifn-e2e-"


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


def pids_in_netns(ns: str) -> list[int]:
    result = run(["ip", "netns", "pids", ns], check=False, timeout=20)
    return [int(p) for p in result.stdout.split() if p.strip().isdigit()]


def kill_pids(pids, sig=signal.SIGKILL):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def wait_gone(pids, seconds=5.0):
    deadline = time.monotonic() + seconds
    for _ in range(200):
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)
    return [p for p in pids if os.path.exists(f"/proc/{p}")]


@dataclass
class LabNetwork:
    """The namespaces, veths and bridge of one test (names carry its tag); remove() undoes them."""

    tag: str
    namespaces: list[str] = field(default_factory=list)
    host_links: list[str] = field(default_factory=list)
    bridge: str | None = None
    made_etc_netns: bool = False

    def ns(self, role: str) -> str:
        return f"{NS_PREFIX}{self.tag}-{role}"

    def hosts_file(self, job: RenderedJob, role: str, hostname: str) -> str:
        """What cluster DNS answers in each pod.

        Every pod resolves the workers through the headless Service and the
        gateway; its own host name resolves locally (as /etc/hosts in a pod).
        Workers do NOT resolve the launcher: a Job's pod gets no DNS record
        unless it sets hostname + subdomain, which the launcher does not.
        """
        lines = [
            "127.0.0.1\tlocalhost",
            f"{GATEWAY_IP}\tgateway.openfaas gateway.openfaas.svc.cluster.local",
        ]
        if role == "l":
            lines.append(f"{LAUNCHER_IP}\t{hostname}")
        for i in range(job.replicas):
            lines.append(f"{SUBNET_PREFIX}{WORKER_IP_BASE + i}\t{job.worker_host(i)} {job.worker_hostname(i)}")
        return "\n".join(lines) + "\n"

    def make(self, job: RenderedJob) -> None:
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
            (etc / "hosts").write_text(self.hosts_file(job, role, hostname))
            # No DNS server in the lab: unknown names fail at once on loopback.
            (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
            host_link = f"mf{self.tag}{role}"
            run(["ip", "link", "add", host_link, "type", "veth", "peer", "name", "eth0", "netns", ns])
            self.host_links.append(host_link)
            run(["ip", "link", "set", host_link, "master", self.bridge, "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            run(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])

    def drop_all_packets(self, index: int) -> None:
        """Make worker <index>'s namespace drop every IP packet it gets or sends."""
        rules = (
            "table inet mpifn_drop {\n"
            "  chain input { type filter hook input priority 0; policy drop; }\n"
            "  chain output { type filter hook output priority 0; policy drop; }\n"
            "}\n"
        )
        run(["ip", "netns", "exec", self.ns(f"w{index}"), "nft", "-f", "-"], input=rules)

    def remove(self) -> list[str]:
        """End what still runs inside the namespaces (orted, ssh sessions: started by this test,
        ended by pid), then delete namespaces, /etc/netns entries, veths and bridge. Returns
        the errors met on the way."""
        errors = []
        for ns in self.namespaces:
            pids = pids_in_netns(ns)
            kill_pids(pids)
            wait_gone(pids)
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
        return errors

    def leftover(self) -> list[str]:
        """The lab's namespaces still listed by `ip netns`."""
        return [
            n
            for n in run(["ip", "netns", "list"], check=False).stdout.split()
            if n.startswith(f"{NS_PREFIX}{self.tag}")
        ]
