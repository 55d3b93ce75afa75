"""The operator's manifests on a test cluster: metacontroller/ with the hooks pointed at the
functions served locally, and the CompositeController kind for clusters without
Metacontroller's own CRDs."""

from __future__ import annotations

from pathlib import Path

import yaml

from testkit.cluster import REPO_ROOT, Cluster
from testkit.processes import ComponentError


def standin_compositecontroller_crd() -> dict:
    """Metacontroller's CompositeController kind without a schema, for clusters where
    Metacontroller's own CRDs are not installed (kubectl and Helm map every object's kind)."""
    names = {"kind": "CompositeController", "listKind": "CompositeControllerList",
             "plural": "compositecontrollers", "singular": "compositecontroller"}  # fmt: skip
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    version = {"name": "v1alpha1", "served": True, "storage": True, "schema": schema}
    # A *.k8s.io group needs this annotation, as Metacontroller's own CRDs carry it.
    approval = {"api-approved.kubernetes.io": "unapproved, request not yet submitted"}
    spec = {"group": "metacontroller.k8s.io", "scope": "Cluster", "names": names, "versions": [version]}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"compositecontrollers.{spec['group']}", "annotations": approval},
            "spec": spec}  # fmt: skip


HOOK_BASE_URL = "http://gateway.openfaas:8080"


def operator_manifests(cluster: Cluster, base_url: str, directory: Path | None = None) -> str:
    """``kubectl kustomize metacontroller/`` with the hook base URL made local."""
    directory = directory or REPO_ROOT / "metacontroller"
    if not (directory / "kustomization.yaml").is_file() and not (directory / "kustomization.yml").is_file():
        raise ComponentError(f"no kustomization in {directory}: the operator's manifests are missing")
    text = cluster.kubectl("kustomize", str(directory))
    if not isinstance(text, str) or HOOK_BASE_URL not in text:
        raise ComponentError(f"the manifests of {directory} never mention the hook base URL {HOOK_BASE_URL}")
    return text.replace(HOOK_BASE_URL, base_url.rstrip("/"))


def install_operator(cluster: Cluster, base_url: str, directory: Path | None = None) -> list[dict]:
    """Apply the manifests in metacontroller/, hooks pointed at base_url; return the
    CompositeControllers, the MPIJob controller first.

    Everything but the CompositeControllers is applied as shipped (and the CRDs
    it defines waited for until Established). The CompositeControllers, as
    shipped but for the hook base URL, are returned for the driver: the real
    Metacontroller applies them after its own CRDs, the stand-in follows them.
    """
    docs = [d for d in yaml.safe_load_all(operator_manifests(cluster, base_url, directory)) if d]

    def parent(controller: dict) -> str:
        resource = controller["spec"]["parentResource"]
        return f"{resource['resource']}.{resource['apiVersion'].split('/')[0]}"

    # the mpifn.dev MPIJob controller first, then the explain controller, then any API Component's
    controllers = sorted(
        (d for d in docs if d.get("kind") == "CompositeController"),
        key=lambda c: (parent(c) != "mpijobs.mpifn.dev", parent(c) != "mpijobexplanations.mpifn.dev"),
    )
    parents = [parent(c) for c in controllers]
    if parents[:2] not in (["mpijobs.mpifn.dev", "mpijobexplanations.mpifn.dev"], ["mpijobs.mpifn.dev"]):
        raise ComponentError(
            f"expected the MPIJob controller and the explain controller in {directory or 'metacontroller/'}, "
            f"found controllers of {parents}"
        )
    out = cluster.apply(*(d for d in docs if d.get("kind") != "CompositeController"))
    items = out.get("items", [out]) if isinstance(out, dict) else []
    crds = [i["metadata"]["name"] for i in items if i.get("kind") == "CustomResourceDefinition"]
    cluster.wait_crds_established(crds)
    return controllers
