"""End-to-end tests against a real control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok, Metacontroller) on loopback."""
