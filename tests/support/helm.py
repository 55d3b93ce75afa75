"""The real helm (scripts/build-tools.sh) as the suites run it: its own home, no
repositories, no registry; the cluster reached through the harness's kubeconfig."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testkit.cluster import REPO_ROOT
from testkit.tools import tool_binary

CHART = REPO_ROOT / "charts" / "mpifn"


@dataclass
class Helm:
    """The cached helm with its own home (no user configuration, no repositories)."""

    home: Path
    kubeconfig: Path | None = None

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            **{f"HELM_{name}_HOME": str(self.home / name.lower()) for name in ("CACHE", "CONFIG", "DATA")},
            "HELM_PLUGINS": str(self.home / "plugins"),
            **({"KUBECONFIG": str(self.kubeconfig)} if self.kubeconfig else {}),
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(tool_binary("helm")), *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=self.env(), check=False)
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)} exited {result.returncode}: {result.stderr}"
        return result

    def template(self, values: dict[str, Any], chart: Path = CHART) -> list[dict]:
        out = self.run("template", "mpifn", str(chart), "--include-crds", *set_json(values)).stdout
        return [doc for doc in yaml.load_all(out, Loader=yaml.CSafeLoader) if doc]


def set_json(values: dict[str, Any], prefix: str = "") -> list[str]:
    """--set-json for every leaf of nested values."""
    args = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            args += set_json(value, f"{prefix}{key}.")
        else:
            args += ["--set-json", f"{prefix}{key}={json.dumps(value)}"]
    return args
