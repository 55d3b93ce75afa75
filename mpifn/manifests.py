"""The shipped Kubernetes manifests, generated here so that each fact has one place:
the MPIJob CRD from mpifn.schema, one CompositeController per MPIJob API, the ClusterRoles
that give namespace admins, editors and viewers each MPIJob API, and the kustomize
Components that change them (hook target, bearer token, gang scheduling, extra APIs).

Every Component patches every CompositeController alike, and an API Component copies the
hooks and child rules of the main controller into its own, so Components combine in any
order: whatever was applied before or after, all controllers end up the same."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mpifn import api, explain, metrics, schema
from mpifn.children.podgroup import SCHEDULER_PLUGINS, VOLCANO
from mpifn.settings import DEFAULT_REGISTRY

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Desired", "type": "integer", "jsonPath": ".status.workers.desired"},
    {"name": "Ready", "type": "integer", "jsonPath": ".status.workers.ready"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Reason", "type": "string", "jsonPath": ".status.reason"},
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
    (api.API_VERSION, api.EXPLANATION_PLURAL, "InPlace"),
]


# Two kinds of controller (mpifn.explain): one per MPIJob API, with sync and finalize, and
# the explain controller, whose parents are MPIJobExplanations, with sync and customize (a
# route of the sync function, <sync URL>/customize) that asks for the pods of a stuck or
# failed job. PARENT_LABEL tells them apart for the Components; the Component
# no-pod-status removes the explain controller's customize hook and both POD_STATUS_LABELs.
HOOKS = ("sync", "finalize", "customize")
MPIJOB_HOOKS = ("sync", "finalize")
EXPLAIN_HOOKS = ("sync", "customize")
PARENT_LABEL = "mpifn.dev/parent"
POD_STATUS_LABEL = explain.POD_STATUS_LABEL
EXPLAIN_CONTROLLER = "mpifn-explain"
FUNCTIONS = ("sync", "finalize", "probe")
MAIN_CONTROLLER = "mpifn-mpijob"
FUNCTIONS_NAMESPACE = "mpifn"
COMPONENTS_DIR = Path("deploy/components")
BASE_DIR = Path("metacontroller/base")


@dataclass(frozen=True)
class HookTarget:
    """Where Metacontroller reaches the functions from inside the cluster."""

    name: str
    url_template: str

    def url(self, function: str) -> str:
        return self.url_template.format(function=function, namespace=FUNCTIONS_NAMESPACE)

    def hook_url(self, hook: str) -> str:
        return self.url("sync") + api.CUSTOMIZE_PATH if hook == "customize" else self.url(hook)


OPENFAAS = HookTarget("openfaas", "http://gateway.openfaas:8080/function/{function}")
KNATIVE = HookTarget("knative", "http://{function}.{namespace}.svc.cluster.local")
PLAIN = HookTarget("plain", "http://{function}.{namespace}.svc.cluster.local:8080")
HOOK_TARGETS = {target.name: target for target in (OPENFAAS, KNATIVE, PLAIN)}
DEFAULT_HOOK_TARGET = OPENFAAS


@dataclass(frozen=True)
class TokenSecret:
    """The Secret Metacontroller reads the bearer token from (docs/auth.md)."""

    component: str
    name: str
    namespace: str
    key: str

    def reference(self) -> dict[str, Any]:
        return {"secretRef": {"name": self.name, "namespace": self.namespace, "key": self.key}}


# OpenFaaS keeps function secrets in openfaas-fn, one key named like the secret
# (faas-cli secret create); Knative and plain installs keep theirs beside the functions.
OPENFAAS_TOKEN = TokenSecret("auth-openfaas", "mpifn-auth-token", "openfaas-fn", "mpifn-auth-token")
TOKEN = TokenSecret("auth", "mpifn-auth", FUNCTIONS_NAMESPACE, "token")
TOKEN_MOUNT_DIR = "/var/run/secrets/mpifn"
# The launcher's init step sends no token: the probe needs the signature sync gave it instead.
GUARDED_FUNCTIONS = ("sync", "finalize")


@dataclass(frozen=True)
class ProbeKeySecret:
    """The Secret every function mounts the probe key from (docs/auth.md): `key` signs and
    verifies; `previous`, present during a rotation only, is still accepted."""

    name: str
    key: str
    previous: str


PROBE_KEY = ProbeKeySecret("mpifn-probe-key", "key", "previous")


@dataclass(frozen=True)
class SecretKey:
    """One key of a Secret that the objects of an auth Component read."""

    namespace: str
    name: str
    key: str


# The Secrets each auth Component needs made before it is applied (docs/auth.md); the chart
# makes them on install when asked (auth.createSecrets). faas-cli names a secret's one key
# like the secret.
AUTH_SECRETS = {
    TOKEN.component: (
        SecretKey(TOKEN.namespace, TOKEN.name, TOKEN.key),
        SecretKey(FUNCTIONS_NAMESPACE, PROBE_KEY.name, PROBE_KEY.key),
    ),
    OPENFAAS_TOKEN.component: (
        SecretKey(OPENFAAS_TOKEN.namespace, OPENFAAS_TOKEN.name, OPENFAAS_TOKEN.key),
        SecretKey(OPENFAAS_TOKEN.namespace, PROBE_KEY.name, PROBE_KEY.name),
    ),
}
PROBE_KEY_MOUNT_DIR = "/var/run/secrets/mpifn-probe"
# Kinds that run the functions outside OpenFaaS: Knative Services, plain Deployments.
FUNCTION_WORKLOADS = (("serving.knative.dev", "Service"), ("apps", "Deployment"))


def _labels(component: str) -> dict[str, str]:
    """`kubectl apply -k ... -l app.kubernetes.io/component=crd` applies the CRDs alone
    (README, Upgrading)."""
    return {"app.kubernetes.io/part-of": "mpifn", "app.kubernetes.io/component": component}


def composite_controller(name: str, parent_api_version: str, plural: str) -> dict[str, Any]:
    """The controller of one MPIJob API."""
    labels = {PARENT_LABEL: "mpijob", POD_STATUS_LABEL: explain.ASKS_FOR_EXPLANATIONS}
    return _controller(name, labels, parent_api_version, plural, CHILD_RESOURCES, MPIJOB_HOOKS)


def explain_controller() -> dict[str, Any]:
    """Reads the pods of the jobs that have an MPIJobExplanation, and only theirs."""
    labels = {PARENT_LABEL: "explanation", POD_STATUS_LABEL: explain.READS_PODS}
    return _controller(EXPLAIN_CONTROLLER, labels, api.API_VERSION, api.EXPLANATION_PLURAL, [], EXPLAIN_HOOKS)


def _controller(
    name: str,
    labels: dict[str, str],
    parent_api_version: str,
    plural: str,
    children: list[tuple[str, str, str]],
    hooks: tuple[str, ...],
) -> dict[str, Any]:
    hook = {"timeout": "10s"}
    return {
        "apiVersion": "metacontroller.k8s.io/v1alpha1",
        "kind": "CompositeController",
        "metadata": {"name": name, "labels": {**_labels("controller"), **labels}},
        "spec": {
            "generateSelector": True,
            "parentResource": {"apiVersion": parent_api_version, "resource": plural},
            "childResources": [
                {"apiVersion": version, "resource": resource, "updateStrategy": {"method": method}}
                for version, resource, method in children
            ],
            "hooks": {
                hook_name: {"version": "v2", "webhook": {"url": DEFAULT_HOOK_TARGET.hook_url(hook_name), **hook}}
                for hook_name in hooks
            },
        },
    }


# The default ClusterRoles admin, edit and view (bound in a namespace by a RoleBinding) take
# in every ClusterRole labelled to aggregate to them (kube-controller-manager's
# clusterrole-aggregation controller). Kubernetes aggregates view into edit and edit into
# admin, so editors and admins also read what viewers read.
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-{}"
READ_VERBS = ("get", "list", "watch")
EDIT_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def _resources(crd: dict[str, Any]) -> tuple[str, list[str]]:
    return crd["spec"]["group"], [crd["spec"]["names"]["plural"]]


def _cluster_role(name: str, rules: list[dict[str, Any]], aggregate_to: tuple[str, ...] = ()) -> dict[str, Any]:
    labels = {**_labels("rbac"), **{AGGREGATE_TO.format(to): "true" for to in aggregate_to}}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels},
        "rules": rules,
    }


def aggregated_roles(controller: str, jobs: dict[str, Any], read_only: tuple[dict[str, Any], ...] = ()) -> list[dict]:
    """`<controller>-edit`: namespace admins and editors create, change and delete the MPIJobs of
    the CRD `jobs`; `<controller>-view`: viewers read them, their status and the CRDs
    `read_only` (made by the controllers, never by users). A status is Metacontroller's: no
    role writes one."""
    group, plurals = _resources(jobs)
    readable = [_resources(crd) for crd in read_only]
    return [
        _cluster_role(
            f"{controller}-edit",
            [{"apiGroups": [group], "resources": plurals, "verbs": list(EDIT_VERBS)}],
            ("admin", "edit"),
        ),
        _cluster_role(
            f"{controller}-view",
            [
                {"apiGroups": [group], "resources": [*plurals, f"{plurals[0]}/status"], "verbs": list(READ_VERBS)},
                *({"apiGroups": [g], "resources": p, "verbs": list(READ_VERBS)} for g, p in readable),
            ],
            ("view",),
        ),
    ]


@dataclass(frozen=True)
class MetricsReader:
    """Where the metrics Component expects kube-state-metrics: its ServiceAccount (bound to
    the ClusterRole that lets it list and watch MPIJobs) and the namespace it mounts the
    configuration from, as kube-state-metrics' own example install runs it (README, Metrics
    says how to change them). The ConfigMap, the ClusterRole and its binding are all `name`."""

    service_account: str
    namespace: str
    name: str
    config_key: str


KUBE_STATE_METRICS = MetricsReader("kube-state-metrics", "kube-system", "mpifn-kube-state-metrics", "mpijobs.yaml")
LIST_WATCH = ("list", "watch")


def metrics_objects(jobs: list[dict[str, Any]], reader: MetricsReader = KUBE_STATE_METRICS) -> list[dict[str, Any]]:
    """The metrics Component's objects: kube-state-metrics' configuration for the MPIJobs of
    the CRDs `jobs` (mpifn.metrics) in a ConfigMap, and the ClusterRole, bound to its
    ServiceAccount, to list and watch them and the CRDs (it finds each API's CRD itself, and
    skips the APIs not installed)."""
    apis = [(crd["spec"]["group"], version["name"]) for crd in jobs for version in crd["spec"]["versions"]]
    config = yaml.safe_dump(metrics.state_metrics_config(apis), sort_keys=False, default_flow_style=None)
    rules = [
        *(
            {"apiGroups": [group], "resources": plurals, "verbs": list(LIST_WATCH)}
            for group, plurals in map(_resources, jobs)
        ),
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": list(LIST_WATCH)},
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": reader.name, "namespace": reader.namespace, "labels": _labels("metrics")},
            "data": {reader.config_key: config},
        },
        _cluster_role(reader.name, rules),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": reader.name, "labels": _labels("rbac")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": reader.name},
            "subjects": [{"kind": "ServiceAccount", "name": reader.service_account, "namespace": reader.namespace}],
        },
    ]


def foreign_crd(group: str, version: str, short_names: list[str], spec: dict[str, Any]) -> dict[str, Any]:
    """A CRD for another project's MPIJob API, for clusters that do not run that project. It
    declares every field of that API, with the real pod template schema: the API server
    refuses unknown fields (strict field validation), and keeps the fields mpifn does not
    implement for sync to refuse with the reason, where pruning them would hide them."""
    crd = mpijob_crd()
    crd["metadata"]["name"] = f"{api.PLURAL}.{group}"
    crd["spec"]["group"] = group
    crd["spec"]["names"]["shortNames"] = short_names
    served = crd["spec"]["versions"][0]
    served["name"] = version
    served["schema"]["openAPIV3Schema"]["properties"]["spec"] = spec
    return crd


def _component(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", **fields}


_CONTROLLERS = {"group": "metacontroller.k8s.io", "kind": "CompositeController"}
_MPIJOB_CONTROLLERS = {**_CONTROLLERS, "labelSelector": f"{PARENT_LABEL}=mpijob"}
_ASKING_FOR_EXPLANATIONS = {**_CONTROLLERS, "labelSelector": f"{POD_STATUS_LABEL}={explain.ASKS_FOR_EXPLANATIONS}"}
_WITH_CUSTOMIZE = {**_CONTROLLERS, "labelSelector": f"{POD_STATUS_LABEL}={explain.READS_PODS}"}


def _hook_patches(operation: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """`operation` on every hook of every controller: sync everywhere, finalize on the MPIJob
    controllers, customize where it is on."""
    return [
        {"target": _CONTROLLERS, "patch": _json_patch([operation("sync")])},
        {"target": _MPIJOB_CONTROLLERS, "patch": _json_patch([operation("finalize")])},
        {"target": _WITH_CUSTOMIZE, "patch": _json_patch([operation("customize")])},
    ]


def _json_patch(operations: list[dict[str, Any]]) -> str:
    """A JSON6902 patch as kustomize reads it: a YAML list, one operation a line."""
    return "".join(f"- {json.dumps(op)}\n" for op in operations)


def hook_target_component(target: HookTarget) -> dict[str, Any]:
    return _component(
        patches=_hook_patches(
            lambda hook: {"op": "replace", "path": f"/spec/hooks/{hook}/webhook/url", "value": target.hook_url(hook)}
        )
    )


def auth_component(secret: TokenSecret, workloads: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Metacontroller sends the token on every hook; sync and finalize (if kustomize builds
    them) mount it and require it. Every function mounts the probe key: sync signs each
    launcher's probe request with it, the probe refuses requests it did not sign."""
    pod = "/spec/template/spec"
    probe_key: list[dict[str, Any]] = [
        {
            "op": "add",
            "path": f"{pod}/volumes",
            "value": [{"name": PROBE_KEY.name, "secret": {"secretName": PROBE_KEY.name}}],
        },
        {
            "op": "add",
            "path": f"{pod}/containers/0/volumeMounts",
            "value": [{"name": PROBE_KEY.name, "mountPath": PROBE_KEY_MOUNT_DIR, "readOnly": True}],
        },
        *(
            {"op": "add", "path": f"{pod}/containers/0/env/-", "value": {"name": variable, "value": path}}
            for variable, path in (
                ("MPIFN_PROBE_KEY_FILE", f"{PROBE_KEY_MOUNT_DIR}/{PROBE_KEY.key}"),
                ("MPIFN_PREVIOUS_PROBE_KEY_FILE", f"{PROBE_KEY_MOUNT_DIR}/{PROBE_KEY.previous}"),
            )
        ),
    ]
    token: list[dict[str, Any]] = [
        {
            "op": "add",
            "path": f"{pod}/volumes/-",
            "value": {"name": "mpifn-auth", "secret": {"secretName": secret.name}},
        },
        {
            "op": "add",
            "path": f"{pod}/containers/0/volumeMounts/-",
            "value": {"name": "mpifn-auth", "mountPath": TOKEN_MOUNT_DIR, "readOnly": True},
        },
        {
            "op": "add",
            "path": f"{pod}/containers/0/env/-",
            "value": {"name": "MPIFN_AUTH_TOKEN_FILE", "value": f"{TOKEN_MOUNT_DIR}/{secret.key}"},
        },
    ]
    return _component(
        patches=[
            *_hook_patches(
                lambda hook: {
                    "op": "add",
                    "path": f"/spec/hooks/{hook}/webhook/authorization",
                    "value": secret.reference(),
                }
            ),
            *(
                {
                    "target": {
                        "group": group,
                        "kind": kind,
                        "name": f"^({'|'.join(names)})$",
                        "namespace": FUNCTIONS_NAMESPACE,
                    },
                    "patch": _json_patch(operations),
                }
                for group, kind in workloads
                # In this order: the token's volume and mount are added to the probe key's.
                for names, operations in ((FUNCTIONS, probe_key), (GUARDED_FUNCTIONS, token))
            ),
        ]
    )


def no_pod_status_component() -> dict[str, Any]:
    """No pod is ever read: the explain controller loses its customize hook and the MPIJob
    controllers ask for no explanation; the status is told from the StatefulSet and the
    launcher Job alone."""
    label = POD_STATUS_LABEL.replace("/", "~1")  # JSON pointer escape
    remove_label = {"op": "remove", "path": f"/metadata/labels/{label}"}
    return _component(
        patches=[
            {
                "target": _WITH_CUSTOMIZE,
                "patch": _json_patch([{"op": "remove", "path": "/spec/hooks/customize"}, remove_label]),
            },
            {"target": _ASKING_FOR_EXPLANATIONS, "patch": _json_patch([remove_label])},
        ]
    )


def gang_component(api_version: str) -> dict[str, Any]:
    rule = {"apiVersion": api_version, "resource": "podgroups", "updateStrategy": {"method": "InPlace"}}
    return _component(
        patches=[
            {
                "target": _MPIJOB_CONTROLLERS,
                "patch": _json_patch([{"op": "add", "path": "/spec/childResources/-", "value": rule}]),
            }
        ]
    )


def api_component(controller: str) -> dict[str, Any]:
    """Adds a CRD, its controller and its aggregated roles; the controller's hooks and child
    rules follow the main controller's as they are when kustomize reaches this Component; the Components after it
    patch both alike."""
    return _component(
        resources=["mpijob.yaml"],
        replacements=[
            {
                "source": {**_CONTROLLERS, "name": MAIN_CONTROLLER, "fieldPath": field},
                "targets": [{"select": {**_CONTROLLERS, "name": controller}, "fieldPaths": [field]}],
            }
            for field in ("metadata.labels", "spec.hooks", "spec.childResources")
        ],
    )


NO_POD_STATUS = "no-pod-status"
METRICS = "metrics"
GANG_COMPONENTS = {"gang-volcano": VOLCANO, "gang-scheduler-plugins": SCHEDULER_PLUGINS}
FOREIGN_APIS = {
    # component: (controller, CRD group, version, short names, parent apiVersion, spec schema).
    # The seed's fields are a subset of mpifn.dev's (mpifn.spec reads both): one schema.
    "kubeflow": (
        "mpifn-kubeflow-mpijob",
        "kubeflow.org",
        "v2beta1",
        ["kfmpijob"],
        api.KUBEFLOW_API_VERSION,
        schema.kubeflow_crd_spec,
    ),
    "seed": ("mpifn-seed-mpijob", "skatelescope.org", "v1", ["seedmpijob"], api.SEED_API_VERSION, schema.crd_spec),
}


IMAGES = ("mpibase", *FUNCTIONS)


def image_overlay(resource: str, registry: str, tag: str) -> dict[str, Any]:
    """A kustomization of `resource` with every image of the project as REGISTRY/<name>:TAG
    (container images and, through the Component deploy/components/images, MPIFN_DEFAULT_IMAGE and
    MPIFN_INIT_IMAGE)."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [resource],
        "images": [
            {"name": f"{DEFAULT_REGISTRY}/{image}", "newName": f"{registry.rstrip('/')}/{image}", "newTag": tag}
            for image in IMAGES
        ],
    }


# What the API server accepts in any object's metadata (ObjectMeta), for strict checks.
OBJECT_META_FIELDS = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)  # fmt: skip


def object_schema(api_version: str) -> dict[str, Any] | None:
    """The schema the API server checks an MPIJob of `api_version` against, with the
    installed CRD (base or API Component), or None if no shipped CRD serves it."""
    for documents in generated_manifests().values():
        for crd in documents:
            if crd["kind"] != "CustomResourceDefinition":
                continue
            for version in crd["spec"]["versions"]:
                if f"{crd['spec']['group']}/{version['name']}" == api_version:
                    schema = version["schema"]["openAPIV3Schema"]
                    metadata = {"type": "object", "properties": {field: {} for field in OBJECT_META_FIELDS}}
                    return {**schema, "properties": {**schema["properties"], "metadata": metadata}}
    return None


def generated_manifests() -> dict[Path, list[dict[str, Any]]]:
    """Every generated file: the base under metacontroller/ (and its kustomization) and the
    Components, by path."""
    base: dict[str, list[dict[str, Any]]] = {
        "crd.yaml": [mpijob_crd(), explanation_crd()],
        "compositecontroller.yaml": [
            composite_controller(MAIN_CONTROLLER, api.API_VERSION, api.PLURAL),
            explain_controller(),
        ],
        "rbac.yaml": aggregated_roles(MAIN_CONTROLLER, mpijob_crd(), (explanation_crd(),)),
    }
    files = {BASE_DIR / name: documents for name, documents in base.items()}
    files[BASE_DIR / "kustomization.yaml"] = [
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": list(base)}
    ]
    for target in HOOK_TARGETS.values():
        files[COMPONENTS_DIR / target.name / "kustomization.yaml"] = [hook_target_component(target)]
    files[COMPONENTS_DIR / OPENFAAS_TOKEN.component / "kustomization.yaml"] = [auth_component(OPENFAAS_TOKEN, ())]
    files[COMPONENTS_DIR / TOKEN.component / "kustomization.yaml"] = [auth_component(TOKEN, FUNCTION_WORKLOADS)]
    files[COMPONENTS_DIR / NO_POD_STATUS / "kustomization.yaml"] = [no_pod_status_component()]
    for component, gang in GANG_COMPONENTS.items():
        files[COMPONENTS_DIR / component / "kustomization.yaml"] = [gang_component(gang.api_version)]
    jobs = [mpijob_crd()]
    for component, (controller, group, version, short_names, parent, spec) in FOREIGN_APIS.items():
        crd = foreign_crd(group, version, short_names, spec())
        jobs.append(crd)
        files[COMPONENTS_DIR / component / "mpijob.yaml"] = [
            crd,
            composite_controller(controller, parent, api.PLURAL),
            *aggregated_roles(controller, crd),
        ]
        files[COMPONENTS_DIR / component / "kustomization.yaml"] = [api_component(controller)]
    files[COMPONENTS_DIR / METRICS / "metrics.yaml"] = metrics_objects(jobs)
    files[COMPONENTS_DIR / METRICS / "kustomization.yaml"] = [_component(resources=["metrics.yaml"])]
    return files


def mpijob_crd() -> dict[str, Any]:
    names = {"shortNames": ["mj", "mpij"], "categories": ["all"]}
    return _crd(api.KIND, api.PLURAL, schema.crd_spec(), schema.STATUS, names, PRINTER_COLUMNS)


def explanation_crd() -> dict[str, Any]:
    return _crd(api.EXPLANATION_KIND, api.EXPLANATION_PLURAL, schema.EXPLANATION_SPEC, schema.EXPLANATION_STATUS)


def _crd(
    kind: str,
    plural: str,
    spec: dict[str, Any],
    status: dict[str, Any],
    names: dict[str, Any] | None = None,
    columns: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A namespaced CRD of the mpifn.dev group with the status subresource (without it
    Metacontroller ignores a parent resource)."""
    version: dict[str, Any] = {"name": api.VERSION, "served": True, "storage": True, "subresources": {"status": {}}}
    if columns:
        version["additionalPrinterColumns"] = columns
    version["schema"] = {
        "openAPIV3Schema": {
            "type": "object",
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": spec,
                "status": status,
            },
        }
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{api.GROUP}", "labels": _labels("crd")},
        "spec": {
            "group": api.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                **(names or {}),
            },
            "versions": [version],
        },
    }
