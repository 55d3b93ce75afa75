"""kubectl against a test cluster: objects read and applied as Python values, and bounded
waits on them that fail at once when a component died."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testkit.processes import ComponentError, wait_until


class KubectlError(RuntimeError):
    def __init__(self, args: list[str], returncode: int, stdout: str, stderr: str):
        self.args_ = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(f"kubectl {' '.join(args)} exited {returncode}: {stderr.strip() or stdout.strip()}")


class Kubectl:
    """kubectl with the cluster's kubeconfig (``bin["kubectl"]``, ``kubeconfig``); waits call
    check_alive() before each try."""

    bin: dict[str, Path]
    kubeconfig: Path | None

    if TYPE_CHECKING:

        def check_alive(self) -> None: ...

    def kubectl_run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        if self.kubeconfig is None:
            raise ComponentError("the cluster is not started")
        argv = [str(self.bin["kubectl"]), f"--kubeconfig={self.kubeconfig}", "--request-timeout=60s", *args]
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise KubectlError(list(args), proc.returncode, proc.stdout, proc.stderr)
        return proc

    def kubeconfig_for(self, namespace: str, service_account: str, path: Path, duration: str = "12h") -> Path:
        """A kubeconfig at `path` that authenticates as a ServiceAccount, with a token the API
        server issues for it (TokenRequest): a component run with it may do what that account's
        RBAC grants and nothing more."""
        if self.kubeconfig is None:
            raise ComponentError("the cluster is not started")
        token = self.kubectl("create", "token", service_account, "-n", namespace, f"--duration={duration}").strip()
        config = json.loads(self.kubeconfig.read_text())
        user = f"{namespace}-{service_account}"
        config["users"] = [{"name": user, "user": {"token": token}}]
        config["contexts"][0]["context"]["user"] = user
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120) -> Any:
        """Run kubectl; returns the parsed JSON output, or the text if it is not JSON."""
        out = self.kubectl_run(*args, input=input, check=check, timeout=timeout).stdout
        stripped = out.strip()
        if stripped.startswith(("{", "[")):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError:
                pass
        return out

    def get(self, kind: str, name: str | None = None, namespace: str | None = None, **selectors: str) -> Any:
        """``kubectl get -o json``; with a name: the object, else the list's items."""
        args = ["get", kind]
        if name:
            args.append(name)
        if namespace:
            args += ["-n", namespace]
        for key, value in selectors.items():
            args += [f"--{key.replace('_', '-')}={value}"]
        out = self.kubectl(*args, "-o", "json")
        return out if name else out.get("items", [])

    def get_or_none(self, kind: str, name: str, namespace: str | None = None) -> Any:
        args = ["get", kind, name, "--ignore-not-found", "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        out = self.kubectl(*args)
        return out if isinstance(out, dict) else None

    def apply(self, *objects: dict, namespace: str | None = None) -> Any:
        """kubectl apply of Python objects (sent as a JSON List)."""
        doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        args = ["apply", "-f", "-", "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        return self.kubectl(*args, input=json.dumps(doc))

    def apply_text(self, text: str, namespace: str | None = None, server_side: bool = False) -> Any:
        args = ["apply", "-f", "-", "-o", "json"]
        if server_side:
            args.append("--server-side")
        if namespace:
            args += ["-n", namespace]
        return self.kubectl(*args, input=text)

    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> dict:
        return self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 60, interval: float = 0.5) -> Any:
        """Bounded wait that also fails at once if any component died."""
        return wait_until(check, what, timeout=timeout, interval=interval, alive=self.check_alive)

    def wait_crds_established(self, names: list[str], timeout: float = 60) -> None:
        """Each CRD's Established condition True. Read, not `kubectl wait`: that fails at
        once while a new CRD has no conditions yet (large CRDs take a moment to get them)."""

        def established(name: str) -> bool:
            conditions = (self.get("crd", name).get("status") or {}).get("conditions") or []
            return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

        for name in names:
            self.wait_for(partial(established, name), f"CRD {name} Established", timeout=timeout)
