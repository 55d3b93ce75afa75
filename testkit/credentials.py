"""The control plane's credentials, made per run in its folder: the service-account signing
key pair, the admin's static token, and the kubeconfig that carries it. (The API server and
the controllers make their own self-signed serving certificates in their --cert-dir.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

from testkit.processes import run_tool

ADMIN = "e2e-admin"


def service_account_keys(pki: Path) -> tuple[Path, Path]:
    """(private key, public key) that sign and check the service-account tokens."""
    key, pub = pki / "sa.key", pki / "sa.pub"
    run_tool(["openssl", "genrsa", "-out", str(key), "2048"], "openssl genrsa")
    run_tool(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)], "openssl rsa -pubout")
    return key, pub


def admin_token(pki: Path) -> tuple[str, Path]:
    """A fresh token in system:masters, and the API server's --token-auth-file holding it."""
    token = os.urandom(16).hex()
    tokens = pki / "tokens.csv"
    tokens.write_text(f'{token},{ADMIN},{ADMIN},"system:masters"\n')
    tokens.chmod(0o600)
    return token, tokens


def write_kubeconfig(path: Path, server: str, token: str) -> Path:
    """A kubeconfig for the admin token (JSON, which is valid YAML: kubeconfig loaders read either)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": ADMIN, "user": {"token": token}}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": ADMIN}}],
        "current-context": "e2e",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path
