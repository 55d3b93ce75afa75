"""The shipped Kubernetes manifests, generated here so that each fact has one place:
the MPIJob CRD from mpifn.schema, and one CompositeController per MPIJob API."""

from pathlib import Path
from typing import Any

from mpifn import api, schema

HOOK_BASE_URL = "http://gateway.openfaas:8080/function"
PRINTER_COLUMNS = [
    {"name": "Desired", "type": "integer", "jsonPath": ".status.workers.desired"},
    {"name": "Ready", "type": "integer", "jsonPath": ".status.workers.ready"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
CHILD_RESOURCES = [
    ("v1", "services", "InPlace"),
    ("apps/v1", "statefulsets", "InPlace"),
    # The key pair is made once; never replace it under running pods.
    ("v1", "secrets", "OnDelete"),
    ("v1", "configmaps", "InPlace"),
    ("batch/v1", "jobs", "InPlace"),
]


def composite_controller(name: str, parent_api_version: str, plural: str) -> dict[str, Any]:
    hook = {"timeout": "10s"}
    return {
        "apiVersion": "metacontroller.k8s.io/v1alpha1",
        "kind": "CompositeController",
        "metadata": {"name": name},
        "spec": {
            "generateSelector": True,
            "resyncPeriodSeconds": 60,
            "parentResource": {"apiVersion": parent_api_version, "resource": plural},
            "childResources": [
                {"apiVersion": version, "resource": resource, "updateStrategy": {"method": method}}
                for version, resource, method in CHILD_RESOURCES
            ],
            "hooks": {
                hook_name: {"version": "v2", "webhook": {"url": f"{HOOK_BASE_URL}/{hook_name}", **hook}}
                for hook_name in ("sync", "finalize")
            },
        },
    }


def foreign_crd(group: str, version: str, short_names: list[str]) -> dict[str, Any]:
    """A CRD for another project's MPIJob API, for clusters that do not run that project:
    its fields are checked by the functions, not by the API server."""
    crd = mpijob_crd()
    crd["metadata"]["name"] = f"{api.PLURAL}.{group}"
    crd["spec"]["group"] = group
    crd["spec"]["names"]["shortNames"] = short_names
    served = crd["spec"]["versions"][0]
    served["name"] = version
    served["schema"]["openAPIV3Schema"]["properties"]["spec"] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    return crd


def generated_manifests() -> dict[Path, list[dict[str, Any]]]:
    """Every generated file under metacontroller/, by path."""
    return {
        Path("metacontroller/base/crd.yaml"): [mpijob_crd()],
        Path("metacontroller/base/compositecontroller.yaml"): [
            composite_controller("mpifn-mpijob", api.API_VERSION, api.PLURAL)
        ],
        Path("metacontroller/kubeflow/mpijob.yaml"): [
            foreign_crd("kubeflow.org", "v2beta1", ["kfmpijob"]),
            composite_controller("mpifn-kubeflow-mpijob", api.KUBEFLOW_API_VERSION, api.PLURAL),
        ],
        Path("metacontroller/seed/mpijob.yaml"): [
            foreign_crd("skatelescope.org", "v1", ["seedmpijob"]),
            composite_controller("mpifn-seed-mpijob", api.SEED_API_VERSION, api.PLURAL),
        ],
    }


def mpijob_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{api.PLURAL}.{api.GROUP}"},
        "spec": {
            "group": api.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": api.KIND,
                "listKind": f"{api.KIND}List",
                "plural": api.PLURAL,
                "singular": api.KIND.lower(),
                "shortNames": ["mj", "mpij"],
                "categories": ["all"],
            },
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": schema.SPEC,
                                "status": schema.STATUS,
                            },
                        }
                    },
                }
            ],
        },
    }
