"""The test harness of mpifn, used by the test suites, the benchmarks and the soak alike
(it never imports the suites; tests/test_import_graph.py holds that).

- cluster: a throw-away Kubernetes control plane on loopback, from processes, credentials,
  kubectl, kwok (fake nodes), manifests, tools and loopback;
- node: that control plane's start-up extended to one real node on this machine, with host
  (the machine's state it restores), containers (containerd and images) and node_config;
- hookdriver: the stand-in for Metacontroller's CompositeController loop, from informers,
  hookcalls, childwrites, apply and workqueue; driver: the stand-in or the real
  Metacontroller behind one interface, with the recording hook proxy; kubeflow: Kubeflow's
  MPI Operator on a test cluster;
- lab: real MPI runs across network namespaces, with labnet and mpijob;
- calls, metacontroller, pods: hook requests and answers without a cluster; server,
  listeners: the functions served on loopback, and fake workers.
"""
