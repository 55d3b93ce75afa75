"""Golden files: the exact output of `mpifn render` for each example, kept as reviewed files
in tests/golden/, so that a change to any child sync makes shows as a diff in review.
`make golden` writes them again (tests/support/golden.py)."""

from pathlib import Path

import pytest

from tests.support.golden import EXAMPLES, GOLDEN, examples, golden_path, rendered

REGENERATE = "if the change is intended, run `make golden` and review `git diff tests/golden`"


@pytest.mark.parametrize("example", examples(), ids=lambda path: str(path.relative_to(EXAMPLES)))
def test_render_of_each_example_is_its_golden_file(example: Path):
    golden = golden_path(example)
    assert golden.is_file(), f"{golden} is missing: {REGENERATE}"
    assert rendered(example) == golden.read_text(), f"render of {example} differs from {golden}: {REGENERATE}"


def test_each_golden_file_has_its_example():
    kept = {path.relative_to(GOLDEN) for path in GOLDEN.rglob("*.yaml")}
    assert kept == {example.relative_to(EXAMPLES) for example in examples()}, REGENERATE


def test_the_golden_render_ignores_the_shells_settings(monkeypatch):
    """A developer's exported MPIFN_* variable must not change what the golden files hold."""
    example = EXAMPLES / "hello.yaml"
    monkeypatch.setenv("MPIFN_WORKER_HOST_TEMPLATE", "somewhere-{index}.example")
    assert rendered(example) == golden_path(example).read_text()
