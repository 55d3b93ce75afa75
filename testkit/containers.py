"""A real node's container runtime: containerd with runc and the CNI bridge, crictl and ctr
against its socket, the images imported from buildah's storage, and the pods removed (their
shims killed) on the way out."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from testkit.host import kill_all, processes_mentioning, run
from testkit.node_config import cni_network, containerd_config
from testkit.processes import ComponentError, Process, wait_ready

PAUSE_IMAGE = os.environ.get("PAUSE_IMAGE", "localhost/mpifn/pause:1.0")
CNI_BIN_DIR = os.environ.get("MPIFN_CNI_BIN_DIR", "/usr/lib/cni")


def project_images() -> list[str]:
    """The images `make images` builds, named as the Makefile names them."""
    registry = os.environ.get("REGISTRY", "docker.io/mpifn")
    tag = os.environ.get("TAG", "0.1.0")
    return [f"{registry}/{name}:{tag}" for name in ("mpibase", "sync", "finalize", "probe")]


class ContainerRuntime:
    """containerd in the node's folder, its socket ``containerd_sock``."""

    dir: Path | None
    root: Path | None
    bin: dict[str, Path]
    processes: list[Process]
    containerd_sock: Path | None

    if TYPE_CHECKING:

        def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process: ...

    def _start_containerd(self, bridge: str, pod_cidr: str, gateway: str) -> None:
        assert self.dir is not None
        base = self.dir / "containerd"
        cni = self.dir / "cni"
        (cni / "net.d").mkdir(parents=True)
        network = cni_network(bridge, pod_cidr, gateway, cni / "ipam")
        (cni / "net.d" / "10-mpifn.conflist").write_text(json.dumps(network, indent=2))
        self.containerd_sock = base / "containerd.sock"
        config = base / "config.toml"
        base.mkdir(exist_ok=True)
        config.write_text(containerd_config(base, self.containerd_sock, PAUSE_IMAGE, CNI_BIN_DIR, cni / "net.d"))
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

    # -- teardown steps ------------------------------------------------------

    def _remove_all_pods(self) -> None:
        if self.containerd_sock is None or not any(p.name == "containerd" and p.running() for p in self.processes):
            return
        self.crictl("rm", "--all", "--force", timeout=120)
        self.crictl("rmp", "--all", "--force", timeout=180)

    def _kill_shims(self) -> None:
        """Container shims outlive containerd by design; these are the ones it started."""
        if self.root is not None:
            root = str(self.root)
            kill_all(lambda: [pid for pid, _cmd in processes_mentioning(root)], rounds=3)
