"""The committed part of Kubernetes' OpenAPI (mpifn/openapi/) is the Kubernetes module's own.

In the e2e_k8s suite because it reads the k8s.io/kubernetes Go module, which
scripts/build-tools.sh (run by `make e2e-k8s` before this suite) downloads to build the
control plane; `go mod download` fetches it here if the module cache lost it. A missing Go
or a refused download fails the test, saying which."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mpifn import podtemplate

pytestmark = pytest.mark.e2e_k8s


def kubernetes_module() -> Path:
    go = shutil.which("go")
    assert go is not None, (
        "go is not on PATH: it reads the k8s.io/kubernetes module (scripts/build-tools.sh needs it too)"
    )
    module = f"k8s.io/kubernetes@{podtemplate.KUBERNETES_VERSION}"
    result = subprocess.run([go, "mod", "download", "-json", module], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"go mod download {module}: {result.stdout[-2000:]} {result.stderr[-2000:]}"
    return Path(json.loads(result.stdout)["Dir"])


def test_the_committed_openapi_is_kubernetes_own():
    document = kubernetes_module() / podtemplate.SOURCE
    assert document.is_file(), f"{document}: the module has no such OpenAPI document"
    trimmed = podtemplate.trim(json.loads(document.read_text()))
    assert trimmed == podtemplate.components(), "run: python3 -m mpifn.podtemplate && python3 -m mpifn manifests"
