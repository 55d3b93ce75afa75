"""The switch to the real Metacontroller: its apply strategy, in a process and in a pod."""

from pathlib import Path

import pytest
import yaml

from testkit.driver import APPLY_STRATEGY_ENV, BINARY_ENV, MANIFESTS_ENV, real_metacontroller
from tests.e2e_node.in_cluster import release_objects


@pytest.fixture
def release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    binary = tmp_path / "metacontroller"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv(BINARY_ENV, str(binary))
    monkeypatch.setenv(MANIFESTS_ENV, str(tmp_path))
    monkeypatch.delenv(APPLY_STRATEGY_ENV, raising=False)
    return tmp_path


def test_the_real_one_applies_server_side_unless_told(release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = real_metacontroller()
    assert found is not None and found.apply_strategy == "server-side-apply"
    monkeypatch.setenv(APPLY_STRATEGY_ENV, "dynamic-apply")
    found = real_metacontroller()
    assert found is not None and found.apply_strategy == "dynamic-apply"


def test_an_unknown_apply_strategy_is_refused_with_the_choices(release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(APPLY_STRATEGY_ENV, "kubectl-apply")
    with pytest.raises(ValueError, match=f"{APPLY_STRATEGY_ENV}=kubectl-apply: must be one of server-side-apply, "):
        real_metacontroller()


def test_the_release_in_a_pod_gets_the_apply_strategy_once(tmp_path: Path) -> None:
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "metacontroller", "namespace": "metacontroller"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "metacontroller", "image": "x", "args": ["--zap-log-level=4", "--apply-strategy=x"]}
                    ]
                }
            }
        },
    }
    (tmp_path / "metacontroller.yaml").write_text(yaml.safe_dump(statefulset))
    (objects,) = release_objects(tmp_path, "mc:built", "server-side-apply")
    (container,) = objects["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["--zap-log-level=4", "--apply-strategy=server-side-apply"]
    assert (container["image"], container["imagePullPolicy"]) == ("mc:built", "Never")
