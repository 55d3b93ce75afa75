"""Operator settings, read from the environment (stack.yml, Knative manifests) by the HTTP
edge when a function starts (mpifn.endpoints.create_app) and handed to the hooks."""

import os
from collections.abc import Mapping
from dataclasses import dataclass

from mpifn.naming import WORKER_HOST_TEMPLATE

# The project's images are REGISTRY/<name>:TAG. This is their one home: the Makefile,
# scripts/images.sh, the stacks, the Dockerfiles and the docs name the same defaults, and
# tests/test_shared_facts.py holds each of them to these.
DEFAULT_REGISTRY = "docker.io/mpifn"
DEFAULT_TAG = "0.1.0"
MPIBASE_IMAGE = f"{DEFAULT_REGISTRY}/mpibase:{DEFAULT_TAG}"


@dataclass(frozen=True)
class Settings:
    probe_url: str = "http://gateway.openfaas:8080/function/probe"
    default_image: str = MPIBASE_IMAGE
    init_image: str = MPIBASE_IMAGE
    worker_host_template: str = WORKER_HOST_TEMPLATE
    max_replicas: int = 4096
    max_body_bytes: int = 8 * 1024 * 1024
    max_probe_timeout_seconds: float = 30.0
    init_deadline_seconds: int = 300
    auth_token_file: str = ""
    probe_key_file: str = ""
    previous_probe_key_file: str = ""
    probe_ticket_seconds: int = 7 * 24 * 3600
    # The customize hook asks for a job's worker pods only up to this many workers (the
    # launcher pod always): each pod read rides in every sync request of its job.
    status_max_worker_pods: int = 64
    # A job whose workers or launcher have made no progress for this long has its pods read
    # (mpifn.explain): a healthy start never pays for it.
    explain_after_seconds: int = 60


_ENV = {
    "probe_url": "MPIFN_PROBE_URL",
    "default_image": "MPIFN_DEFAULT_IMAGE",
    "init_image": "MPIFN_INIT_IMAGE",
    "worker_host_template": "MPIFN_WORKER_HOST_TEMPLATE",
    "max_replicas": "MPIFN_MAX_REPLICAS",
    "max_body_bytes": "MPIFN_MAX_BODY_BYTES",
    "max_probe_timeout_seconds": "MPIFN_MAX_PROBE_TIMEOUT_SECONDS",
    "init_deadline_seconds": "MPIFN_INIT_DEADLINE_SECONDS",
    "auth_token_file": "MPIFN_AUTH_TOKEN_FILE",
    "probe_key_file": "MPIFN_PROBE_KEY_FILE",
    "previous_probe_key_file": "MPIFN_PREVIOUS_PROBE_KEY_FILE",
    "probe_ticket_seconds": "MPIFN_PROBE_TICKET_SECONDS",
    "status_max_worker_pods": "MPIFN_STATUS_MAX_WORKER_PODS",
    "explain_after_seconds": "MPIFN_EXPLAIN_AFTER_SECONDS",
}


def settings_from(environ: Mapping[str, str]) -> Settings:
    """Build settings from an environment mapping; a bad number names its variable."""
    values: dict[str, object] = {}
    defaults = Settings()
    for field, variable in _ENV.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        kind = type(getattr(defaults, field))
        try:
            values[field] = kind(raw)
        except ValueError as error:
            raise ValueError(f"{variable}: must be a {kind.__name__}, got {raw!r}") from error
    return Settings(**values)  # type: ignore[arg-type]


def from_environment() -> Settings:
    """The settings of this process's environment: for the edge, when it starts."""
    return settings_from(os.environ)
