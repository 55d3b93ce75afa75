"""The real Metacontroller installed on the node the way its users install it.

When MPIFN_METACONTROLLER_BIN names a binary (and MPIFN_METACONTROLLER_MANIFESTS its
release's manifests folder, manifests/production of its source), the real-node suite
does not run it on the machine: it builds an image holding the binary (FROM the
project's mpibase image, since the binary may link glibc), imports it into the node's
containerd, and applies the release's own manifests (namespace, RBAC, CRDs, the
StatefulSet) with only the image replaced, before mpifn's chart. Metacontroller then runs
in a pod, reaches the API server through the `kubernetes` Service with its ServiceAccount,
and calls the functions at the Service URLs the installed CompositeControllers name:
nothing between them, so hook failures are read from Metacontroller's own SyncError events.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from testkit.containers import project_images
from testkit.driver import RealMetacontroller
from testkit.host import run
from testkit.node import Node
from testkit.processes import ComponentError

NAMESPACE = "metacontroller"
IMAGE_REPOSITORY = "localhost/mpifn-e2e/metacontroller"
BINARY_IN_IMAGE = "/usr/bin/metacontroller"  # where the release's StatefulSet runs it from


def image_name(binary: Path) -> str:
    """Tagged by the binary's content: a rebuilt binary is a new image, the same one is reused."""
    return f"{IMAGE_REPOSITORY}:{hashlib.sha256(binary.read_bytes()).hexdigest()[:12]}"


def build_image(binary: Path) -> str:
    name = image_name(binary)
    found = run(["buildah", "images", "--noheading", "-q", name], name, check=False)
    if found.returncode == 0 and found.stdout.strip():
        return name
    container = run(["buildah", "from", "--pull=never", project_images()[0]], "buildah from mpibase").stdout.strip()
    try:
        run(["buildah", "copy", "--chmod", "0755", container, str(binary), BINARY_IN_IMAGE], "buildah copy")
        entrypoint = f'["{BINARY_IN_IMAGE}"]'
        run(["buildah", "config", "--user", "65534:65534", "--entrypoint", entrypoint, container], "buildah config")
        run(["buildah", "commit", "--quiet", container, name], "buildah commit", timeout=300)
    finally:
        run(["buildah", "rm", container], "buildah rm", check=False)
    return name


def release_objects(manifests: Path, image: str, apply_strategy: str) -> list[dict]:
    """The release's objects from its manifests folder, the controller's image replaced and
    its apply strategy set (README: `--apply-strategy=server-side-apply`)."""
    files = sorted(manifests.glob("*.y*ml")) if manifests.is_dir() else [manifests]
    objects = [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]
    objects = [o for o in objects if o.get("kind") not in (None, "Kustomization")]
    controllers = [o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "metacontroller"]
    if len(controllers) != 1:
        raise ComponentError(f"{manifests}: expected Metacontroller's StatefulSet among its release manifests")
    for container in controllers[0]["spec"]["template"]["spec"]["containers"]:
        container["image"] = image
        container["imagePullPolicy"] = "Never"  # imported into containerd; there is no registry
        args = [arg for arg in container.get("args", []) if not arg.startswith("--apply-strategy=")]
        container["args"] = [*args, f"--apply-strategy={apply_strategy}"]
    return objects


class InClusterMetacontroller:
    """The same reading surface the node tests use from testkit/driver.Driver."""

    def __init__(self, node: Node, release: RealMetacontroller) -> None:
        self.node, self.release = node, release
        self.kind = f"Metacontroller in a pod ({release.binary.name}, {release.apply_strategy}, image built here)"

    def install(self) -> InClusterMetacontroller:
        """Metacontroller's release, before mpifn's CompositeControllers exist."""
        image = build_image(self.release.binary)
        self.node.import_image(image)
        objects = release_objects(self.release.manifests, image, self.release.apply_strategy)
        crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
        self.node.apply(*crds)
        self.node.wait_crds_established([c["metadata"]["name"] for c in crds])
        self.node.apply(*(o for o in objects if o["kind"] != "CustomResourceDefinition"))
        self.node.kubectl(
            "rollout", "status", "statefulset/metacontroller", "-n", NAMESPACE, "--timeout=180s", timeout=200
        )
        return self

    def start(self, resync_seconds: int) -> InClusterMetacontroller:
        """The suite's one change to the installed CompositeControllers: the resync period the
        stand-in runs with too."""
        for controller in self.node.get("compositecontrollers"):
            patch = json.dumps({"spec": {"resyncPeriodSeconds": resync_seconds}})
            self.node.kubectl(
                "patch", "compositecontroller", controller["metadata"]["name"], "--type=merge", "-p", patch
            )
        return self

    def stop(self) -> None:
        """Metacontroller goes (no hook call while the node stops); the node's stop removes
        what is left of its pod."""
        self.node.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)

    def errors(self, namespace: str) -> list[str]:
        """Metacontroller's SyncError events for parents in the namespace."""
        events = self.node.kubectl("get", "events", "-n", namespace, "-o", "json").get("items", [])
        return [
            f"{e['involvedObject'].get('name')}: {e.get('message')}" for e in events if e.get("reason") == "SyncError"
        ]
