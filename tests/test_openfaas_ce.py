"""Every shipped OpenFaaS stack deploys on OpenFaaS Community Edition.

CE's faas-netes (0.18.17) validates each deploy and update and answers HTTP 400, so that
`faas-cli deploy` fails, for: the label `com.openfaas.scale.zero: "true"`, any
`com.openfaas.scale.zero-duration`, `com.openfaas.scale.target` or `com.openfaas.scale.type`
label, `com.openfaas.scale.min`/`max` above 5 (pkg/handlers/validate.go, validateScalingLabels),
an annotation whose name holds `amazonaws.com` or `gke.io`, a `topic` annotation with a comma
(pkg/handlers/deploy.go, buildAnnotations), a namespace other than its function namespace,
and (on deploy) a 16th function. `ce_refusal` and `ce_stack_refusals` restate those rules.
OpenFaaS Pro's scale to zero comes only from the README's `faas-cli deploy --label ...`
command, which CE must refuse.
"""

import re
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.test_packaging import faas_cli_substitute

CE_MAX_REPLICAS = 5  # faas-netes MaxReplicas
CE_MAX_FUNCTIONS = 15  # faas-netes MaxFunctions
CE_FUNCTION_NAMESPACE = "openfaas-fn"  # the chart's functionNamespace, as the README installs it
PRO_ONLY_LABELS = ("com.openfaas.scale.zero-duration", "com.openfaas.scale.target", "com.openfaas.scale.type")
STACKS = sorted(ROOT.glob("stack*.yml"))
# Folders whose YAML is applied to clusters besides the stacks: kustomizations, their patches, functions.
MANIFEST_FOLDERS = ("deploy", "metacontroller", "knative", "plain")


def _go_atoi(value: str) -> int | None:
    """strconv.Atoi: an optional sign and decimal digits, nothing else (no spaces, no underscores)."""
    return int(value) if re.fullmatch(r"[+-]?[0-9]+", value) else None


def ce_refusal(labels: Mapping[str, str] | None, annotations: Mapping[str, str] | None = None) -> str | None:
    """faas-netes CE's answer to a function with these labels and annotations: the reason it
    refuses the deploy, or None when it accepts it. Values are strings, as faas-cli sends them."""
    labels = labels or {}
    if labels.get("com.openfaas.scale.zero") == "true":
        return "com.openfaas.scale.zero not available for Community Edition"
    for name in PRO_ONLY_LABELS:
        if name in labels:
            return f"{name} not available for Community Edition"
    for name in ("com.openfaas.scale.max", "com.openfaas.scale.min"):
        number = _go_atoi(labels[name]) if name in labels else None
        if number is not None and number > CE_MAX_REPLICAS:
            return f"{name} is set too high for Community Edition"
    for name, value in (annotations or {}).items():
        if name == "topic" and "," in value:
            return "the topic annotation may only support one value in the Community Edition"
        if "amazonaws.com" in name or "gke.io" in name:
            return f"annotation {name!r} is not supported in the Community Edition"
    return None


def ce_stack_refusals(stack: Mapping) -> list[str]:
    """Every reason CE would refuse a function of this (substituted) stack file."""
    functions = stack["functions"]
    found = [] if len(functions) <= CE_MAX_FUNCTIONS else [f"{len(functions)} functions, CE allows 15"]
    for name, function in functions.items():
        strings = {}
        for kind in ("labels", "annotations"):
            values = function.get(kind) or {}
            found += [f"{name}: {kind} {k}: {v!r} is not a string" for k, v in values.items() if not isinstance(v, str)]
            strings[kind] = {k: v for k, v in values.items() if isinstance(v, str)}
        reason = ce_refusal(strings["labels"], strings["annotations"])
        if reason:
            found.append(f"{name}: {reason}")
        if function.get("namespace", CE_FUNCTION_NAMESPACE) != CE_FUNCTION_NAMESPACE:
            found.append(f"{name}: namespace must be: {CE_FUNCTION_NAMESPACE}")
    return found


def load(stack: Path) -> dict:
    return yaml.safe_load(faas_cli_substitute(stack.read_text(), {}))


@pytest.mark.parametrize(
    ("labels", "annotations", "reason"),
    [
        ({"com.openfaas.scale.zero": "true"}, None, "com.openfaas.scale.zero not available"),
        ({"com.openfaas.scale.zero-duration": "15m"}, None, "com.openfaas.scale.zero-duration not available"),
        ({"com.openfaas.scale.zero": "false", "com.openfaas.scale.zero-duration": "1m"}, None, "zero-duration"),
        ({"com.openfaas.scale.target": "50"}, None, "com.openfaas.scale.target not available"),
        ({"com.openfaas.scale.type": "capacity"}, None, "com.openfaas.scale.type not available"),
        ({"com.openfaas.scale.max": "6"}, None, "com.openfaas.scale.max is set too high"),
        ({"com.openfaas.scale.min": "6"}, None, "com.openfaas.scale.min is set too high"),
        ({"com.openfaas.scale.min": "+10"}, None, "com.openfaas.scale.min is set too high"),
        (None, {"topic": "a,b"}, "topic annotation may only support one value"),
        (None, {"iam.amazonaws.com/role": "x"}, "iam.amazonaws.com/role"),
        (None, {"iam.gke.io/gcp-service-account": "x"}, "iam.gke.io/gcp-service-account"),
    ],
)
def test_each_ce_rule_refuses_its_label_or_annotation(labels, annotations, reason):
    refusal = ce_refusal(labels, annotations)
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize(
    ("labels", "annotations"),
    [
        (None, None),
        ({"com.openfaas.scale.zero": "false"}, None),
        ({"com.openfaas.scale.min": "1", "com.openfaas.scale.max": "5"}, None),
        ({"com.openfaas.scale.max": "1_000"}, None),  # not a number to Go's Atoi: faas-netes lets it pass
        ({"com.openfaas.scale.max": " 9"}, None),
        ({"app": "mpifn"}, {"topic": "jobs", "prometheus.io.scrape": "false"}),
    ],
)
def test_ce_accepts_what_faas_netes_accepts(labels, annotations):
    assert ce_refusal(labels, annotations) is None


def test_the_stack_rules_refuse_pro_labels_a_foreign_namespace_unquoted_values_and_a_16th_function():
    function = {"image": "x", "labels": {"com.openfaas.scale.min": "1"}}
    assert ce_stack_refusals({"functions": {"f": function}}) == []
    assert ce_stack_refusals({"functions": {f"f{i}": function for i in range(16)}}) == ["16 functions, CE allows 15"]
    pro = {**function, "labels": {"com.openfaas.scale.zero": "true"}}
    assert ce_stack_refusals({"functions": {"f": pro}}) == [
        "f: com.openfaas.scale.zero not available for Community Edition"
    ]
    elsewhere = {**function, "namespace": "mpifn"}
    assert ce_stack_refusals({"functions": {"f": elsewhere}}) == ["f: namespace must be: openfaas-fn"]
    unquoted = {**function, "labels": {"com.openfaas.scale.min": 1}}
    assert ce_stack_refusals({"functions": {"f": unquoted}}) == ["f: labels com.openfaas.scale.min: 1 is not a string"]


def test_the_shipped_stacks_are_found():
    assert {stack.name for stack in STACKS} >= {"stack.yml", "stack.auth.yml"}


@pytest.mark.parametrize("stack", STACKS, ids=lambda path: path.name)
def test_every_shipped_stack_deploys_on_community_edition(stack):
    assert ce_stack_refusals(load(stack)) == []


def test_every_openfaas_label_in_the_shipped_manifests_is_one_ce_accepts():
    """Any `com.openfaas.*` key in a manifest besides the stacks (patches included, as text)."""
    pattern = re.compile(r"""["']?(com\.openfaas\.[\w.-]+)["']?\s*:\s*["']?([^"'\s#]*)""")
    files = [path for folder in MANIFEST_FOLDERS for path in sorted((ROOT / folder).rglob("*.y*ml"))]
    assert files
    for path in files:
        labels = dict(pattern.findall(path.read_text()))
        assert ce_refusal(labels) is None, f"{path.relative_to(ROOT)}: {ce_refusal(labels)}"


def pro_commands() -> list[str]:
    """The README's `faas-cli deploy ... --label ...` commands: OpenFaaS Pro's scale to zero."""
    readme = (ROOT / "README.md").read_text()
    return [line for line in readme.splitlines() if "faas-cli deploy" in line and "--label" in line]


def test_the_readme_adds_scale_to_zero_only_by_a_command_that_ce_refuses():
    """faas-cli deploy merges each `--label K=V` over every function's stack labels (commands/deploy.go:
    util.MergeMap, the flag wins), so the Pro labels never sit in a file someone deploys to CE."""
    commands = pro_commands()
    assert commands, "README: the OpenFaaS Pro command (faas-cli deploy -f stack.yml --label ...)"
    for command in commands:
        stack = ROOT / re.search(r"-f (\S+)", command).group(1)
        flags = dict(flag.split("=", 1) for flag in re.findall(r"--label (\S+)", command))
        assert flags["com.openfaas.scale.zero"] == "true", command
        for name, function in load(stack)["functions"].items():
            merged = {**function.get("labels", {}), **flags}
            assert ce_refusal(merged) is not None, f"{command}: {name} would deploy on CE"
