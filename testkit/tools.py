"""The cached command-line tools the harness runs (built by scripts/build-tools.sh):
their versions and the paths of their binaries."""

from __future__ import annotations

import os
from pathlib import Path

from testkit.processes import ComponentError

# Same defaults as scripts/build-tools.sh; the cache's versions.txt (written
# by that script) wins over these, and the environment wins over both.
DEFAULT_VERSIONS = {
    "etcd": "v3.6.16",
    "kubernetes": "v1.36.3",
    "kwok": "v0.8.0",
    "crictl": "v1.37.0",
    "coredns": "v1.15.0",
    "kube-state-metrics": "v2.20.0",
    "helm": "v4.3.2",
    "mpi-operator": "v0.8.0",
    "kueue": "v0.17.0",
}
VERSION_ENV = {
    "etcd": "ETCD_VERSION",
    "kubernetes": "KUBERNETES_VERSION",
    "kwok": "KWOK_VERSION",
    "crictl": "CRICTL_VERSION",
    "coredns": "COREDNS_VERSION",
    "kube-state-metrics": "KUBE_STATE_METRICS_VERSION",
    "helm": "HELM_VERSION",
    "mpi-operator": "MPI_OPERATOR_VERSION",
    "kueue": "KUEUE_VERSION",
}


def tools_root() -> Path:
    return Path(os.environ.get("MPIFN_TOOLS_DIR") or Path.home() / ".cache" / "mpifn-tools")


def tool_versions(root: Path | None = None) -> dict[str, str]:
    root = root or tools_root()
    versions = dict(DEFAULT_VERSIONS)
    vfile = root / "versions.txt"
    if vfile.is_file():
        for line in vfile.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() in versions and value.strip():
                versions[key.strip()] = value.strip()
    for tool, env in VERSION_ENV.items():
        if os.environ.get(env):
            versions[tool] = os.environ[env]
    return versions


def tool_binary(tool: str, binary: str | None = None) -> Path:
    """Path of a cached binary; ComponentError if it was never built."""
    root = tools_root()
    version = tool_versions(root)[tool]
    path = root / f"{tool}-{version}" / "bin" / (binary or tool)
    if not (path.is_file() and os.access(path, os.X_OK)):
        why = ""
        err = root / f"{tool}-{version}.build-error"
        if err.is_file():
            why = "\n" + err.read_text(errors="replace").strip()
        raise ComponentError(
            f"{binary or tool} {version} is not built: {path} is missing. "
            f"Run scripts/build-tools.sh {tool} (see tests/e2e_k8s/README.md).{why}"
        )
    return path
