"""Under Metacontroller's server-side apply no child carries a last-applied copy: sync
still asks for exactly the launcher Job it made, so that Metacontroller skips it, and never
for another template than the one an existing Job has."""

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mpifn import api
from mpifn.settings import Settings
from testkit import calls
from testkit.metacontroller import hook_request

T0 = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a probe key: each new launcher template is signed, with an expiry time."""
    key = tmp_path / "probe-key"
    key.write_text("a-probe-key-of-32-random-characters\n")
    return Settings(probe_key_file=str(key))


def stored(children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the API server holds after a server-side apply: server fields and the defaults
    of a pod template filled in, and no last-applied annotation."""
    observed = copy.deepcopy(children)
    for index, child in enumerate(observed):
        child["metadata"].update(namespace="default", uid=f"uid-{index}", resourceVersion=str(100 + index))
        if child["kind"] == "Job":
            pod = child["spec"]["template"]["spec"]
            pod.update(schedulerName="default-scheduler", dnsPolicy="ClusterFirst")
            for container in pod["containers"] + pod.get("initContainers", []):
                container.setdefault("imagePullPolicy", "IfNotPresent")
    return observed


def launcher(answer: dict[str, Any]) -> dict[str, Any]:
    return next(child for child in answer["children"] if child["kind"] == "Job")


def test_the_launcher_job_is_asked_for_as_it_was_made(hello: dict, settings: Settings) -> None:
    first = calls.sync(hook_request(hello), now=T0, settings=settings)
    made = launcher(first)
    assert made["metadata"]["annotations"][api.LAUNCHER_TEMPLATE_ANNOTATION]
    later = calls.sync(
        hook_request({**hello, "status": first["status"]}, stored(first["children"])),
        now=T0 + timedelta(minutes=10),  # a template signed now would expire later
        settings=settings,
    )
    assert launcher(later) == made


def test_a_job_made_otherwise_keeps_the_template_it_has(hello: dict, settings: Settings) -> None:
    first = calls.sync(hook_request(hello), now=T0, settings=settings)
    observed = stored(first["children"])
    existing = launcher({"children": observed})
    upgraded = replace(settings, init_deadline_seconds=settings.init_deadline_seconds + 1)  # in the init step
    later = calls.sync(hook_request({**hello, "status": first["status"]}, observed), now=T0, settings=upgraded)
    assert launcher(later)["spec"]["template"] == existing["spec"]["template"]


def test_a_job_without_a_fingerprint_keeps_the_template_it_has(hello: dict, settings: Settings) -> None:
    first = calls.sync(hook_request(hello), now=T0, settings=settings)
    observed = stored(first["children"])
    existing = launcher({"children": observed})
    del existing["metadata"]["annotations"]
    later = calls.sync(hook_request({**hello, "status": first["status"]}, observed), now=T0, settings=settings)
    assert launcher(later)["spec"]["template"] == existing["spec"]["template"]
