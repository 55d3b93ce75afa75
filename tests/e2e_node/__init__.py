"""The whole operator on one real node: containerd, kubelet, kube-proxy, CoreDNS."""
