"""HTTP to the test components on loopback, and nowhere else: their TLS certificates are
made per run, so they are not verified."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

# TLS to the test control plane on loopback, whose certificates are made per run: not verified.
INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


def http_get(url: str, token: str | None = None, timeout: float = 3.0) -> tuple[int, str]:
    """GET a loopback URL; returns (status, body). Never follows other hosts."""
    if not url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
        raise ValueError(f"refusing non-loopback URL {url}")
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    ctx = INSECURE if url.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def http(method: str, url: str, body: Any = None, token: str = "", content_type: str = "application/json", timeout=15):
    """(status, parsed JSON or text, headers) of a loopback request."""
    if not url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
        raise ValueError(f"refusing non-loopback URL {url}")
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=INSECURE if url.startswith("https") else None) as r:
            status, text, headers = r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        status, text, headers = exc.code, exc.read().decode(errors="replace"), dict(exc.headers)
    try:
        return status, json.loads(text), headers
    except ValueError:
        return status, text, headers
