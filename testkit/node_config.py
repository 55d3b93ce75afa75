"""The configuration files of a real node's daemons, as values: the CNI bridge network,
containerd, CoreDNS, kubelet and kube-proxy. Pure: the caller writes them into the node's
folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cni_network(bridge: str, pod_cidr: str, gateway: str, ipam_dir: Path) -> dict[str, Any]:
    """Pods on `bridge` with host-local addresses of pod_cidr, kept in ipam_dir."""
    return {
        "cniVersion": "1.0.0",
        "name": "mpifn-e2e",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": False,  # pods talk to the node and each other only
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr, "gateway": gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(ipam_dir),
                },
            },
            {"type": "loopback"},
        ],
    }


def containerd_config(base: Path, socket: Path, pause_image: str, cni_bin_dir: str, cni_conf_dir: Path) -> str:
    """containerd with its root, state and sockets under base, the CRI plugin on runc and CNI."""
    return f"""version = 2
root = "{base}/root"
state = "{base}/state"
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{base}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause_image}"
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
    bin_dir = "{cni_bin_dir}"
    conf_dir = "{cni_conf_dir}"
"""


def corefile(address: str, ready_port: int, kubeconfig: Path, domain: str) -> str:
    """CoreDNS on `address` serving the cluster domain from the API server. No forward
    plugin: names outside the cluster domain get no answer instead of the machine's resolver."""
    return f""".:53 {{
    bind {address}
    errors
    ready 127.0.0.1:{ready_port}
    kubernetes {domain} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} e2e
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""


def kubelet_config(
    *,
    runtime_socket: Path,
    address: str,
    port: int,
    healthz_port: int,
    cgroup_root: str,
    cluster_dns: str,
    cluster_domain: str,
    resolv_conf: Path,
    pod_logs: Path,
) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "address": address,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        # this machine: cgroup v1, and no CAP_SYS_RESOURCE for a negative oom_score_adj
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "oomScoreAdj": 0,
        "failSwapOn": False,
        "clusterDNS": [cluster_dns],
        "clusterDomain": cluster_domain,
        "resolvConf": str(resolv_conf),
        "podLogsDir": str(pod_logs),
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


def kube_proxy_config(
    *, kubeconfig: Path, node_name: str, pod_cidr: str, healthz_port: int, metrics_port: int
) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node_name,
        "clusterCIDR": pod_cidr,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        # Pods reach Services of pods on the same bridge: masquerading makes
        # the replies come back through the node (no br_netfilter needed).
        "iptables": {"masqueradeAll": True, "localhostNodePorts": False, "syncPeriod": "5s"},
        # leave the machine's conntrack sysctls alone
        "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }
