"""The reviewed output of `mpifn render` for each example: tests/golden/<example>.yaml.

    make golden          (python -m tests.support.golden) writes every one again

then review `git diff tests/golden`: each changed line is a change to a child that sync
makes. tests/test_golden.py compares each file with a fresh render, byte for byte.

The render runs as a user runs it, `python -m mpifn render examples/<example>.yaml` at the
root of the checkout, with the shipped settings (no MPIFN_* variable of this shell). Its
output is deterministic: no status (the only part that reads the clock), and the Secret's
generated key redacted."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "tests" / "golden"


def examples() -> list[Path]:
    """Every MPIJob file under examples/ (examples/user-image/job.yaml too)."""
    return sorted(EXAMPLES.rglob("*.yaml"))


def golden_path(example: Path) -> Path:
    return GOLDEN / example.relative_to(EXAMPLES)


def rendered(example: Path) -> str:
    """What `mpifn render examples/...` prints for the example with the shipped settings."""
    argv = [sys.executable, "-m", "mpifn", "render", str(example.relative_to(ROOT))]
    env = {name: value for name, value in os.environ.items() if not name.startswith("MPIFN_")}
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:])} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def write_all() -> list[Path]:
    """Every golden file written again from a fresh render; those of removed examples deleted."""
    wanted = {golden_path(example): rendered(example) for example in examples()}
    for stale in set(GOLDEN.rglob("*.yaml")) - set(wanted):
        stale.unlink()
    for path, text in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return sorted(wanted)


if __name__ == "__main__":
    for written in write_all():
        print(f"wrote {written.relative_to(ROOT)}")
    print("review the change: git diff tests/golden")
