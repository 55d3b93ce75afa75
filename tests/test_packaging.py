"""The shipped manifests: CRD from the one schema, controller wiring, OpenFaaS and Knative."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from mpifn import metrics, podtemplate
from mpifn.cli import GENERATED_HEADER, to_yaml
from mpifn.manifests import COMPONENTS_DIR, KUBE_STATE_METRICS, METRICS, generated_manifests
from mpifn.settings import Settings
from tests.conftest import ROOT
from tests.support.kubernetes import KUBERNETES_VERSION

FUNCTIONS = ("sync", "finalize", "probe")
STACKS = ("stack.yml", "stack.auth.yml")


def faas_cli_substitute(text: str, environ: dict[str, str]) -> str:
    """faas-cli's environment substitution for the forms the stacks use: ${NAME:-default}."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: environ.get(m.group(1)) or m.group(2), text)


def load_stack(name: str, environ: dict[str, str] | None = None) -> dict:
    return yaml.safe_load(faas_cli_substitute((ROOT / name).read_text(), environ or {}))


def test_committed_manifests_are_the_generated_ones():
    for path, documents in generated_manifests().items():
        assert (ROOT / path).read_text() == GENERATED_HEADER + to_yaml(documents), f"run `make manifests`: {path}"


def test_every_crd_is_valid_and_every_api_has_a_controller():
    for documents in generated_manifests().values():
        for document in documents:
            if document["kind"] == "CustomResourceDefinition":
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    controllers = [d for docs in generated_manifests().values() for d in docs if d["kind"] == "CompositeController"]
    parents = sorted(
        (c["spec"]["parentResource"]["apiVersion"], c["spec"]["parentResource"]["resource"]) for c in controllers
    )
    assert parents == [
        ("kubeflow.org/v2beta1", "mpijobs"),
        ("mpifn.dev/v1", "mpijobexplanations"),
        ("mpifn.dev/v1", "mpijobs"),
        ("skatelescope.org/v1", "mpijobs"),
    ]


def test_crd_is_a_valid_structural_crd_with_status_and_columns():
    crd, explanations = yaml.safe_load_all((ROOT / "metacontroller" / "base" / "crd.yaml").read_text())
    for each in (crd, explanations):
        kubernetes_validate.validate(each, KUBERNETES_VERSION, strict=True)
        assert each["spec"]["versions"][0]["subresources"] == {"status": {}}  # else Metacontroller ignores it
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Desired", "Ready", "Phase", "Reason", "Message", "Age"]
    assert crd["spec"]["names"]["shortNames"] == ["mj", "mpij"]
    assert version["schema"]["openAPIV3Schema"]["properties"]["spec"]["required"] == ["replicas"]


def mpijob_crds() -> dict[str, dict]:
    return {
        document["spec"]["group"]: document
        for documents in generated_manifests().values()
        for document in documents
        if document["kind"] == "CustomResourceDefinition" and document["spec"]["names"]["kind"] == "MPIJob"
    }


def spec_schema(crd: dict) -> dict:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


# Every pod template field of each MPIJob API.
POD_TEMPLATE_PATHS = {
    "mpifn.dev": ("template", "launcher.template", "worker.template"),
    "skatelescope.org": ("template", "launcher.template", "worker.template"),
    "kubeflow.org": ("mpiReplicaSpecs.Launcher.template", "mpiReplicaSpecs.Worker.template"),
}


def test_every_pod_template_of_every_mpijob_crd_has_the_real_pod_template_schema():
    """So the API server's strict field validation refuses `comand:` inside a template."""
    crds = mpijob_crds()
    assert set(crds) == set(POD_TEMPLATE_PATHS)
    for group, paths in POD_TEMPLATE_PATHS.items():
        spec = spec_schema(crds[group])
        assert "x-kubernetes-preserve-unknown-fields" not in spec, group
        for path in paths:
            node = spec
            for name in path.split("."):
                node = node["properties"][name]
            assert {k: v for k, v in node.items() if k != "description"} == podtemplate.pod_template_schema(), path


# What client-side `kubectl apply` (the README's) writes into the last-applied-configuration
# annotation is the whole object as compact JSON; annotations hold at most 256 KiB together.
# Measured at v1.36.3: mpijobs.mpifn.dev and .skatelescope.org 183.5 kB, .kubeflow.org 124 kB.
ANNOTATION_LIMIT = 262144


def test_every_crd_fits_a_client_side_apply():
    for documents in generated_manifests().values():
        for document in documents:
            if document["kind"] == "CustomResourceDefinition":
                size = len(json.dumps(document, separators=(",", ":")))
                name = document["metadata"]["name"]
                assert size < ANNOTATION_LIMIT, f"{name}: {size} bytes: only `kubectl apply --server-side` takes it"


def test_controller_hooks_use_v2_and_the_gateway():
    controller, explainer = yaml.safe_load_all(
        (ROOT / "metacontroller" / "base" / "compositecontroller.yaml").read_text()
    )
    for each, wired in (
        (controller, (("sync", "sync"), ("finalize", "finalize"))),
        (explainer, (("sync", "sync"), ("customize", "sync/customize"))),
    ):
        hooks = each["spec"]["hooks"]
        assert set(hooks) == {name for name, _ in wired}
        for name, path in wired:
            assert hooks[name]["version"] == "v2"
            assert hooks[name]["webhook"]["url"] == f"http://gateway.openfaas:8080/function/{path}"
    strategies = {rule["resource"]: rule["updateStrategy"]["method"] for rule in controller["spec"]["childResources"]}
    assert strategies == {
        "services": "InPlace",
        "statefulsets": "InPlace",
        "secrets": "OnDelete",
        "configmaps": "InPlace",
        "jobs": "InPlace",
        "mpijobexplanations": "InPlace",
    }
    assert explainer["spec"]["childResources"] == []
    assert explainer["spec"]["parentResource"] == {"apiVersion": "mpifn.dev/v1", "resource": "mpijobexplanations"}


def granted(roles: list[dict], aggregate_to: str, group: str, resource: str) -> set[str]:
    """The verbs on group/resource that the default ClusterRole `aggregate_to` takes in from `roles`."""
    return {
        verb
        for role in roles
        if role["metadata"]["labels"].get(f"rbac.authorization.k8s.io/aggregate-to-{aggregate_to}") == "true"
        for rule in role["rules"]
        if group in rule["apiGroups"] and resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_namespace_admins_and_editors_write_and_viewers_read_every_mpijob_api():
    """The aggregated ClusterRoles, in the same kustomization as the CRD they are for: the
    default roles admin and edit may create, change and delete MPIJobs of every API served,
    view reads them; explanations and statuses are read-only for everyone."""
    files = generated_manifests()
    folders: dict[Path, list[dict]] = {}
    for path, documents in files.items():
        folders.setdefault(path.parent, []).extend(documents)
        if any(d["kind"] == "ClusterRole" for d in documents):
            (kustomization,) = files[path.parent / "kustomization.yaml"]
            assert path.name in kustomization["resources"], f"{path} is not in its kustomization"
    writes = {"create", "update", "patch", "delete", "deletecollection"}
    served = set()
    for folder, documents in folders.items():
        roles = [d for d in documents if d["kind"] == "ClusterRole"]
        for crd in (d for d in documents if d["kind"] == "CustomResourceDefinition"):
            group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
            if crd["spec"]["names"]["kind"] == "MPIJob":
                served.add(group)
                for role in ("admin", "edit"):
                    assert granted(roles, role, group, plural) == writes | {"get", "list", "watch"}, (folder, role)
                assert granted(roles, "view", group, plural) == {"get", "list", "watch"}, folder
            else:
                assert granted(roles, "view", group, plural) == {"get", "list", "watch"}, (folder, plural)
                for role in ("admin", "edit"):
                    assert not granted(roles, role, group, plural) & writes, (folder, plural)
            assert granted(roles, "view", group, f"{plural}/status") <= {"get", "list", "watch"}
            for role in ("admin", "edit"):
                assert not granted(roles, role, group, f"{plural}/status") & writes, (folder, role)
    assert served == {"mpifn.dev", "kubeflow.org", "skatelescope.org"}


def test_the_readme_says_what_the_roles_allow_and_how_to_build_the_release_manifests():
    readme = " ".join((ROOT / "README.md").read_text().split())
    roles = [d for docs in generated_manifests().values() for d in docs if d["kind"] == "ClusterRole"]
    base = {role["metadata"]["name"] for role in roles if role["metadata"]["name"].startswith("mpifn-mpijob-")}
    assert base == {"mpifn-mpijob-edit", "mpifn-mpijob-view"}
    for name in base:
        assert f"`{name}`" in readme, name
    (editing,) = [line for line in readme.split(" | ") if line.startswith("create, get, list")]
    for verb in ("create", "get", "list", "watch", "update", "patch", "delete", "deletecollection"):
        assert verb in editing, verb
    assert "make dist REGISTRY=registry.example.com/hpc TAG=0.1.0" in readme
    variants = sorted(p.parent.name for p in (ROOT / "deploy").glob("*/kustomization.yaml"))
    for variant in variants:
        assert f"mpifn-{variant}.yaml" in readme, variant
    assert "/dist/" in (ROOT / ".gitignore").read_text().split()


def test_stacks_substitute_only_registry_and_tag():
    for name in STACKS:
        assert set(re.findall(r"\$\{[^}]*\}", (ROOT / name).read_text())) == {
            "${REGISTRY:-docker.io/mpifn}",
            "${TAG:-0.1.0}",
        }, name


def test_one_registry_and_tag_name_every_image_of_the_stacks():
    environ = {"REGISTRY": "registry.example:5000/team", "TAG": "1.2.3"}
    for name in STACKS:
        stack = load_stack(name, environ)
        for function, spec in stack["functions"].items():
            assert spec["image"] == f"registry.example:5000/team/{function}:1.2.3"
            for variable in ("MPIFN_DEFAULT_IMAGE", "MPIFN_INIT_IMAGE"):
                assert spec["environment"][variable] == "registry.example:5000/team/mpibase:1.2.3"
        assert "mpifn/" not in yaml.safe_dump(stack).replace("registry.example:5000/team/", "")
    defaults = load_stack("stack.yml")["functions"]["sync"]
    assert (defaults["image"], defaults["environment"]["MPIFN_DEFAULT_IMAGE"]) == (
        "docker.io/mpifn/sync:0.1.0",
        Settings().default_image,
    )


def test_no_controller_resyncs_on_a_timer():
    """Idle jobs cost no hook calls: sync asks for a resync only when time changes its answer."""
    for documents in generated_manifests().values():
        for document in documents:
            assert "resyncPeriodSeconds" not in document.get("spec", {}), document["metadata"]["name"]


def test_stack_builds_every_function_offline():
    stack = load_stack("stack.yml")
    assert stack["provider"]["name"] == "openfaas"
    assert (ROOT / "template" / "dockerfile" / "template.yml").read_text() == "language: dockerfile\n"
    assert stack["configuration"]["copy"] == ["./mpifn"]
    assert set(stack["functions"]) == set(FUNCTIONS)
    for name, function in stack["functions"].items():
        handler = ROOT / function["handler"]
        assert function["lang"] == "dockerfile"
        assert (handler / "Dockerfile").resolve().is_file(), name
        entry = f'{name} = functions_framework.http(create_app(functions=["{name}"]).view("{name}"))'
        assert entry in (handler / "main.py").read_text()
        assert function["environment"]["FUNCTION_TARGET"] == name
        assert function["labels"] == {"com.openfaas.scale.min": "1"}  # what CE accepts: tests/test_openfaas_ce.py


def test_knative_services_scale_to_zero_on_the_revision_template():
    documents = list(yaml.safe_load_all((ROOT / "knative" / "functions.yaml").read_text()))
    services = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Service"}
    assert set(services) == set(FUNCTIONS)
    stack = load_stack("stack.yml")
    for name, service in services.items():
        assert "annotations" not in service["metadata"]
        annotations = service["spec"]["template"]["metadata"]["annotations"]
        assert annotations["autoscaling.knative.dev/min-scale"] == "0"
        assert annotations["autoscaling.knative.dev/scale-to-zero-pod-retention-period"] == "1m"
        assert service["metadata"]["labels"] == {"networking.knative.dev/visibility": "cluster-local"}
        env = {e["name"]: e["value"] for e in service["spec"]["template"]["spec"]["containers"][0]["env"]}
        expected = {
            **stack["functions"][name]["environment"],
            "MPIFN_PROBE_URL": "http://probe.mpifn.svc.cluster.local",
        }
        assert env == {k: str(v) for k, v in expected.items()}


def test_the_docs_point_only_inside_the_repository():
    readmes = [p for p in sorted(ROOT.glob("*/**/README.md")) if not p.relative_to(ROOT).parts[0].startswith(".")]
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *readmes]  # not .venv's packages
    for document in documents:
        text = document.read_text()
        assert "DESIGN.md" not in text, document
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if not target.startswith(("http://", "https://")):
                assert (document.parent / target).exists(), f"{document.relative_to(ROOT)}: link to {target}"


# --------------------------------------------------------------------------- OpenFaaS build contexts

BUILD_INPUTS = ("stack.yml", "stack.auth.yml", "template", "functions", "mpifn")
NOT_SOURCES = shutil.ignore_patterns("__pycache__", "*.pyc", ".*cache")


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()}


def shrinkwrap(work: Path, stack: str) -> Path:
    """`faas-cli build --shrinkwrap -f <stack>` with the faas-cli named by FAAS_CLI_BIN, or, without
    one, the same: each handler folder copied (links followed), then configuration.copy into it."""
    faas_cli = os.environ.get("FAAS_CLI_BIN")
    if faas_cli:
        result = subprocess.run(
            [faas_cli, "build", "--shrinkwrap", "-f", stack], cwd=work, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"faas-cli build --shrinkwrap -f {stack}: {result.stdout}{result.stderr}"
        return work / "build"
    config = yaml.safe_load((work / stack).read_text())
    for name, function in config["functions"].items():
        context = work / "build" / name
        shutil.copytree(work / function["handler"], context)
        for shared in config.get("configuration", {}).get("copy", []):
            shutil.copytree(work / shared, context / Path(shared).name)
    return work / "build"


@pytest.mark.parametrize("stack", STACKS)
def test_each_function_build_context_holds_its_dockerfile_its_handler_and_the_whole_package(tmp_path, stack):
    for entry in BUILD_INPUTS:  # a copy of the sources, as a clean checkout has them
        source = ROOT / entry
        if source.is_dir():
            shutil.copytree(source, tmp_path / entry, symlinks=True, ignore=NOT_SOURCES)
        else:
            shutil.copy2(source, tmp_path / entry)
    build = shrinkwrap(tmp_path, stack)
    package = files_under(tmp_path / "mpifn")
    functions = yaml.safe_load((ROOT / stack).read_text())["functions"]
    assert {p.name for p in build.iterdir()} == set(functions)
    for name, function in functions.items():
        context = build / name
        dockerfile = context / "Dockerfile"
        assert dockerfile.is_file() and not dockerfile.is_symlink(), f"{name}: the Dockerfile must be a real file"
        handler = files_under(tmp_path / function["handler"])
        expected = handler | {f"mpifn/{f}" for f in package}
        assert files_under(context) == expected, f"{name}: build context differs from handler + mpifn/"
        assert (context / "mpifn" / "hooks.py").read_bytes() == (ROOT / "mpifn" / "hooks.py").read_bytes()
        for line in dockerfile.read_text().splitlines():
            words = line.split()
            if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
                for source in [w for w in words[1:-1] if not w.startswith("--")]:
                    assert (context / source).exists(), f"{name}: Dockerfile copies {source}, not in the context"


def test_the_metrics_component_reads_every_mpijob_api_and_the_readme_names_its_series():
    config_map, role, binding = generated_manifests()[COMPONENTS_DIR / METRICS / "metrics.yaml"]
    config = yaml.safe_load(config_map["data"][KUBE_STATE_METRICS.config_key])
    served = {(crd["spec"]["group"], crd["spec"]["versions"][0]["name"]) for crd in mpijob_crds().values()}
    kinds = {(r["groupVersionKind"]["group"], r["groupVersionKind"]["version"], r["groupVersionKind"]["kind"])
             for r in config["spec"]["resources"]}  # fmt: skip
    assert kinds == {(group, version, "MPIJob") for group, version in served}
    readable = {(group, resource) for rule in role["rules"] if set(rule["verbs"]) >= {"list", "watch"}
                for group in rule["apiGroups"] for resource in rule["resources"]}  # fmt: skip
    assert readable == {(group, "mpijobs") for group, _ in served} | {
        ("apiextensions.k8s.io", "customresourcedefinitions")
    }
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": KUBE_STATE_METRICS.service_account,
            "namespace": config_map["metadata"]["namespace"],
        }
    ]
    readme = (ROOT / "README.md").read_text()
    for name in metrics.series_names():
        assert f"`{name}" in readme, name
