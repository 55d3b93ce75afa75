"""The test harness of mpifn, used by the test suites, the benchmarks and the soak alike.

- cluster: a throw-away Kubernetes control plane on loopback (etcd, kube-apiserver,
  kube-controller-manager, kube-scheduler, kwok with fake nodes);
- node: that control plane plus containerd, CoreDNS, kubelet and kube-proxy on this machine;
- hookdriver: the stand-in for Metacontroller's CompositeController loop; driver: the stand-in
  or the real Metacontroller behind one interface, with the recording hook proxy;
- lab: real MPI runs across network namespaces;
- calls, metacontroller, pods: hook requests and answers without a cluster; server,
  listeners: the functions served on loopback, and fake workers.
"""
