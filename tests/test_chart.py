"""The Helm chart is generated (`mpifn chart`, make manifests) from the kustomizations of
deploy/: the committed chart is the generated one, every Component is a platform part or a
value, and a new Component becomes a value with no change to the generator. helm itself
(lint, template against kustomize, install) is in tests/e2e_k8s/test_chart.py."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mpifn import chart
from mpifn.cli import chart_text, main, version
from mpifn.manifests import COMPONENTS_DIR

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / chart.CHART_DIR


def test_committed_chart_is_the_generated_one():
    generated = chart.chart_files(ROOT, version())
    on_disk = {path.relative_to(ROOT) for path in CHART.rglob("*") if path.is_file()}
    assert on_disk == set(generated), "run `make manifests`"
    for path, content in generated.items():
        assert (ROOT / path).read_text() == chart_text(content), f"run `make manifests`: {path}"


def test_no_file_of_the_chart_is_ignored_by_git():
    """A clean clone has every file the chart needs (build/ is ignored, for one)."""
    paths = [str(path) for path in chart.chart_files(ROOT, version())]
    result = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout) == (1, ""), f"git ignores {result.stdout}"


def build() -> dict:
    return yaml.safe_load((CHART / chart.INDEX).read_text())


def test_every_component_is_part_of_a_platform_or_a_value():
    on_disk = {path.parent.name for path in (ROOT / COMPONENTS_DIR).glob("*/kustomization.yaml")}
    used = {name for variant in build()["variants"].values() for name in variant["components"]}
    valued = {option["component"] for option in build()["options"]}
    assert used | valued == on_disk and not used & valued
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert {
        "podStatus": True,
        "gangScheduler": "",
        "apis": {"kubeflow": False, "seed": False},
    }.items() <= values.items()


def test_secrets_and_tokens_never_come_from_values():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert set(schema["properties"]["auth"]["properties"]) == {"enabled", "createSecrets"}
    assert schema["additionalProperties"] is False and schema["properties"]["auth"]["additionalProperties"] is False


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The files the chart is made from, copied."""
    for folder in ("deploy", "metacontroller", "plain", "knative"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def add_component(checkout: Path, name: str, **fields) -> None:
    folder = checkout / COMPONENTS_DIR / name
    folder.mkdir()
    component = {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", **fields}
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(component))


def test_a_new_component_becomes_a_value_with_no_change_here(checkout):
    patch = {"target": {"kind": "CompositeController"}, "patch": '- {"op": "add", "path": "/spec/x", "value": 1}\n'}
    add_component(checkout, "extra", patches=[patch])
    files = chart.chart_files(checkout, "0.0.1")
    built = files[chart.CHART_DIR / chart.INDEX][0]  # type: ignore[index]
    assert {"component": "extra", "path": "components.extra", "adds": True} in built["options"]
    assert files[chart.CHART_DIR / chart.KUSTOMIZE / "components" / "extra.yaml"] == [
        {"patches": [patch], "resources": [], "replacements": [], "imagesInEnv": False}
    ]
    before = yaml.safe_load((ROOT / chart.CHART_DIR / "values.yaml").read_text())["components"]
    values = yaml.safe_load(files[chart.CHART_DIR / "values.yaml"])  # type: ignore[arg-type]
    assert values["components"] == {**before, "extra": False}
    schema = json.loads(files[chart.CHART_DIR / "values.schema.json"])  # type: ignore[arg-type]
    assert schema["properties"]["components"]["properties"] == {
        **{name: {"type": "boolean"} for name in before},
        "extra": {"type": "boolean"},
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"labels": [{"pairs": {"a": "b"}}]}, "cannot do labels"),
        ({"patches": [{"path": "patch.yaml"}]}, "needs a target and an inline patch"),
        ({"configurations": ["names.yaml"]}, "only transformer configuration"),
    ],
)
def test_what_the_charts_templates_cannot_do_is_refused_by_name(checkout, fields, message):
    add_component(checkout, "odd", **fields)
    (checkout / COMPONENTS_DIR / "odd" / "names.yaml").write_text("nameReference: []\n")
    with pytest.raises(chart.Unsupported, match=message):
        chart.chart_files(checkout, "0.0.1")


def test_chart_command_writes_the_chart_anew(tmp_path, capsys):
    stale = tmp_path / chart.CHART_DIR / "templates" / "old.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("kind: Old\n")
    assert main(["chart", "--root", str(tmp_path)]) == 0
    written = {path.relative_to(tmp_path / chart.CHART_DIR) for path in (tmp_path / chart.CHART_DIR).rglob("*")}
    committed = {path.relative_to(CHART) for path in CHART.rglob("*")}
    assert written == committed
    assert "helm install mpifn" in capsys.readouterr().out
