"""The Helm chart charts/mpifn, generated from the kustomizations of deploy/ (`mpifn chart`,
make manifests) so that the kustomize Components stay the one source of every variant.

The chart carries what kustomize would read, resolved: kustomize/index.yaml names each ready
kustomization deploy/<variant> (its resource files and Components), kustomize/resources/ holds
those files' objects, kustomize/components/<name>.yaml each Component (its patches, resources
and replacements), and its templates (mpifn/helm/, a small kustomize in Go templates)
apply them as `kubectl kustomize` does. Values pick the variant (platform, auth.enabled)
and the optional Components: every Component of deploy/components that no ready
kustomization uses becomes a value (OPTION_VALUES names some; any other Component NAME is
`components.NAME: true`), so a new Component needs no change here. The CRDs of the ready
kustomizations go to crds/, Helm's place for them."""

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mpifn.manifests import (
    AUTH_SECRETS,
    COMPONENTS_DIR,
    DEFAULT_HOOK_TARGET,
    FOREIGN_APIS,
    FUNCTIONS,
    FUNCTIONS_NAMESPACE,
    GANG_COMPONENTS,
    HOOK_TARGETS,
    IMAGES,
    NO_POD_STATUS,
)
from mpifn.settings import DEFAULT_REGISTRY, DEFAULT_TAG

CHART_DIR = Path("charts/mpifn")
# In the chart: what its templates read (kustomize/) and the index of it.
KUSTOMIZE = Path("kustomize")
INDEX = KUSTOMIZE / "index.yaml"
DEPLOY = Path("deploy")
AUTH_SUFFIX = "-auth"
TEMPLATES = ("_kustomize.tpl", "mpifn.yaml", "NOTES.txt")
# The only transformer configuration the Components use (deploy/components/images): kustomize's
# `images:` also renames images written as environment values. The chart's image values do it.
IMAGES_IN_ENV = {"images": [{"path": "spec/template/spec/containers[]/env[]/value"}]}
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "components"}
COMPONENT_FIELDS = {"apiVersion", "kind", "patches", "resources", "replacements", "configurations"}


class Unsupported(ValueError):
    """A kustomization uses what the chart's templates cannot do; the message names it."""


@dataclass(frozen=True)
class Option:
    """The value that adds an optional Component: `adds` at the dotted values `path`."""

    component: str
    path: str
    adds: bool | str

    @property
    def default(self) -> bool | str:
        """The value that leaves the Component out: the other boolean, or no choice ("")."""
        return not self.adds if isinstance(self.adds, bool) else ""


# Friendlier values for the Components that have one; a choice ("gangScheduler") takes one of
# its Components at most.
OPTION_VALUES: dict[str, tuple[str, bool | str]] = {
    NO_POD_STATUS: ("podStatus", False),
    **{component: ("gangScheduler", component.removeprefix("gang-")) for component in GANG_COMPONENTS},
    **{component: (f"apis.{component}", True) for component in FOREIGN_APIS},
}


def option(component: str) -> Option:
    return Option(component, *OPTION_VALUES.get(component, (f"components.{component}", True)))


def variants(root: Path) -> list[str]:
    """The ready kustomizations deploy/<variant>/ of the checkout at `root` (not the Components)."""
    found = []
    for path in sorted((root / DEPLOY).glob("*/kustomization.yaml")):
        document = yaml.safe_load(path.read_text())
        if isinstance(document, dict) and document.get("kind") == "Kustomization":
            found.append(path.parent.name)
    return found


def _kustomization(root: Path, directory: Path, allowed: set[str]) -> dict[str, Any]:
    document = yaml.safe_load((root / directory / "kustomization.yaml").read_text())
    extra = sorted(set(document) - allowed)
    if extra:
        raise Unsupported(
            f"{directory / 'kustomization.yaml'}: the chart's templates cannot do {', '.join(extra)}; "
            f"use only {', '.join(sorted(allowed - {'apiVersion', 'kind'}))}, or teach mpifn/helm/ the rest"
        )
    return dict(document)


def _relative(directory: Path, entry: str) -> Path:
    return Path(os.path.normpath(directory / entry))


# libyaml's loader where PyYAML has it: the CRDs with their pod template schemas are large.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _objects(root: Path, path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.load_all((root / path).read_text(), Loader=_LOADER) if document]


def resource_files(root: Path, directory: Path, entries: list[str]) -> Iterator[Path]:
    """The files of the resources `entries` of the kustomization in `directory`, folders
    (kustomizations with resources only) followed, in kustomize's order."""
    for entry in entries:
        path = _relative(directory, entry)
        if (root / path).is_dir():
            nested = _kustomization(root, path, KUSTOMIZATION_FIELDS - {"components"})
            yield from resource_files(root, path, nested.get("resources", []))
        else:
            yield path


def component(root: Path, name: str) -> dict[str, Any]:
    """A Component as the chart's templates read it: its patches (inline, with a target), the
    objects of its resource files, its replacements, and whether it renames images in env values."""
    directory = COMPONENTS_DIR / name
    document = _kustomization(root, directory, COMPONENT_FIELDS)
    for patch in document.get("patches", []):
        if set(patch) != {"target", "patch"}:
            raise Unsupported(f"{directory}: a patch needs a target and an inline patch, got {sorted(patch)}")
    configurations = [
        yaml.safe_load((root / directory / path).read_text()) for path in document.get("configurations", [])
    ]
    if any(configuration != IMAGES_IN_ENV for configuration in configurations):
        raise Unsupported(f"{directory}: the only transformer configuration the chart knows is {IMAGES_IN_ENV}")
    return {
        "patches": document.get("patches", []),
        "resources": [
            obj for entry in document.get("resources", []) for obj in _objects(root, _relative(directory, entry))
        ],
        "replacements": document.get("replacements", []),
        "imagesInEnv": bool(configurations),
    }


def _component_name(directory: Path, entry: str) -> str:
    path = _relative(directory, entry)
    if path.parent != COMPONENTS_DIR:
        raise Unsupported(f"{directory}: component {entry} is not a folder of {COMPONENTS_DIR}")
    return path.name


def variant(root: Path, name: str) -> tuple[dict[str, Any], dict[Path, list[Any]], list[dict[str, Any]]]:
    """The ready kustomization deploy/<name>: how the index names it (its resource files, its
    Components, the Secrets of its auth Component), the files of kustomize/resources/ it reads,
    and its CRDs, which go to crds/ instead."""
    directory = DEPLOY / name
    document = _kustomization(root, directory, KUSTOMIZATION_FIELDS)
    files: dict[Path, list[Any]] = {}
    crds = []
    for path in resource_files(root, directory, document.get("resources", [])):
        objects = _objects(root, path)
        crds += [o for o in objects if o["kind"] == "CustomResourceDefinition"]
        others = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
        if others:
            files[Path("resources") / path] = [others]
    components = [_component_name(directory, entry) for entry in document.get("components", [])]
    secrets = [asdict(secret) for c in components for secret in AUTH_SECRETS.get(c, ())]
    entry = {"resources": [str(path) for path in files], "components": components, "secrets": secrets}
    return entry, {KUSTOMIZE / path: content for path, content in files.items()}, crds


def chart_files(root: Path, version: str) -> dict[Path, str | list[Any]]:
    """Every file of the chart by path under the checkout: YAML documents, or text as written."""
    names = variants(root)
    platforms = sorted({name.removesuffix(AUTH_SUFFIX) for name in names})
    if sorted(names) != sorted(name for p in HOOK_TARGETS for name in (p, p + AUTH_SUFFIX)):
        raise Unsupported(f"{root / DEPLOY}: the chart needs deploy/<platform> and <platform>{AUTH_SUFFIX} for each of "
                          f"{sorted(HOOK_TARGETS)}, found {names}")  # fmt: skip
    files: dict[Path, str | list[Any]] = {}
    built: dict[str, dict[str, Any]] = {}
    crds: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        built[name], resource_files_, crds[name] = variant(root, name)
        files |= resource_files_
    if any(found != crds[names[0]] for found in crds.values()):
        raise Unsupported(f"{root / DEPLOY}: the variants install different CRDs; crds/ of a chart is the same for all")
    used = {component for entry in built.values() for component in entry["components"]}
    on_disk = sorted(path.parent.name for path in (root / COMPONENTS_DIR).glob("*/kustomization.yaml"))
    options = [option(name) for name in on_disk if name not in used]
    for name in on_disk:
        files[KUSTOMIZE / "components" / f"{name}.yaml"] = [component(root, name)]
    files[INDEX] = [
        {
            "variants": built,
            "options": [{"component": o.component, "path": o.path, "adds": o.adds} for o in options],
            "images": {"registry": DEFAULT_REGISTRY, "names": list(IMAGES)},
            "functions": {"namespace": FUNCTIONS_NAMESPACE, "names": list(FUNCTIONS)},
        }
    ]
    files[Path("crds/mpifn.yaml")] = crds[names[0]]
    files[Path("Chart.yaml")] = [chart_metadata(version)]
    files[Path("values.yaml")] = values_text(platforms, options)
    files[Path("values.schema.json")] = json.dumps(values_schema(platforms, options), indent=2) + "\n"
    for template in TEMPLATES:
        files[Path("templates") / template] = resources.files("mpifn").joinpath("helm", template).read_text()
    return {CHART_DIR / path: content for path, content in files.items()}


def chart_metadata(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v2",
        "name": "mpifn",
        "description": "An MPI operator for Kubernetes: three serverless functions behind Metacontroller",
        "type": "application",
        "version": version,
        "appVersion": DEFAULT_TAG,
    }


def default_values(options: list[Option]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "platform": DEFAULT_HOOK_TARGET.name,
        "auth": {"enabled": False, "createSecrets": True},
        "image": {"registry": DEFAULT_REGISTRY, "tag": DEFAULT_TAG},
        "resources": {},
    }
    for each in sorted(options, key=lambda o: o.path):
        *parents, leaf = each.path.split(".")
        node = values
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = each.default
    return {**values, "components": values.get("components", {})}


VALUES_HEADER = """\
# Values of mpifn's chart, written by `mpifn chart` (make manifests) from deploy/; do not edit.
#   platform            where the functions run, and so where the hooks go: {platforms}
#                       (openfaas: deploy the functions with faas-cli, stack.yml; the others
#                       run them in namespace mpifn, as deploy/<platform>/ does)
#   auth.enabled        the bearer token and signed probe requests (deploy/<platform>-auth/, docs/auth.md)
#   auth.createSecrets  true: the chart makes the token and probe key Secrets, random, on install,
#                       and keeps them on upgrade; false: create them first (docs/auth.md).
#                       Never put a token or key in a values file.
#   image.registry, image.tag   every image of the project as <registry>/<name>:<tag>
#   resources           the functions' container resources (knative, plain); {{}}: as shipped
{options}
#   components.NAME     true adds the Component deploy/components/NAME/ (one without a value above)
"""


def values_text(platforms: list[str], options: list[Option]) -> str:
    lines = [
        f"#   {o.path:<19} {json.dumps(o.adds)} adds the Component deploy/components/{o.component}/"
        for o in sorted(options, key=lambda o: o.path)
    ]
    header = VALUES_HEADER.format(platforms=", ".join(platforms), options="\n".join(lines))
    return header + yaml.safe_dump(default_values(options), sort_keys=False)


def values_schema(platforms: list[str], options: list[Option]) -> dict[str, Any]:
    """Values the chart accepts; anything else is refused by name (a misspelt option would
    otherwise be ignored)."""

    def closed(properties: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "properties": properties}

    schema = closed(
        {
            "platform": {"enum": platforms},
            "auth": closed({"enabled": {"type": "boolean"}, "createSecrets": {"type": "boolean"}}),
            "image": closed(
                {"registry": {"type": "string", "minLength": 1}, "tag": {"type": "string", "pattern": "^[^:]+$"}}
            ),
            "resources": {"type": "object"},
            "components": closed({}),
        }
    )
    choices: dict[str, list[str]] = {}
    for each in options:
        if isinstance(each.adds, str):
            choices.setdefault(each.path, [""]).append(each.adds)
    for each in options:
        *parents, leaf = each.path.split(".")
        node = schema
        for parent in parents:
            node = node["properties"].setdefault(parent, closed({}))
        node["properties"][leaf] = {"enum": choices[each.path]} if each.path in choices else {"type": "boolean"}
    return {"$schema": "http://json-schema.org/draft-07/schema#", **schema}
