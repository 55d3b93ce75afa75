# mpifn: an MPI operator whose controller is three serverless functions.
#   make run    serve sync, finalize and probe on 127.0.0.1:8080 (/function/<name>)
#   make test   lint, type-check, unit, HTTP and real-MPI tests
PYTHON ?= python3
PORT ?= 8080
HOST ?= 127.0.0.1
# Locally the probe reaches "workers" on loopback addresses, never a DNS server.
LOCAL_WORKER_HOST_TEMPLATE ?= 127.0.10.{index}
PYTEST ?= $(PYTHON) -m pytest

# Image settings, overridable here or in an optional PrivateRules.mak:
# $(REGISTRY)/{mpibase,sync,finalize,probe}:$(TAG), built with BUILDER
# (docker, podman or buildah: the first that works unless set). PIP_CA_BUNDLE:
# a CA bundle for pip inside the build, behind a TLS-intercepting proxy.
REGISTRY ?= docker.io/mpifn
TAG ?= 0.1.0
BUILDER ?=
PIP_CA_BUNDLE ?=
# The real-node suite builds with buildah from local Debian-made bases; pip
# trusts this machine's CA bundle (which holds any intercepting proxy's CA).
NODE_CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
-include PrivateRules.mak

STAMP := .make-installed

.PHONY: install system-deps run test lint unit e2e-mpi e2e-k8s node-deps base-images e2e-node images push bench bench-idle fuzz soak render manifests overlay clean

$(STAMP): pyproject.toml mpifn/requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'
	@touch $@

install: $(STAMP)

system-deps:
	sh scripts/install-mpi-deps.sh

run: install
	MPIFN_WORKER_HOST_TEMPLATE='$(LOCAL_WORKER_HOST_TEMPLATE)' \
	MPIFN_PROBE_URL=http://$(HOST):$(PORT)/function/probe \
	$(PYTHON) -m mpifn.serve --host $(HOST) --port $(PORT)

lint: install
	$(PYTHON) -m ruff check mpifn functions tests
	$(PYTHON) -m ruff format --check mpifn functions
	$(PYTHON) -m mypy

test: install system-deps lint
	$(PYTEST) tests --ignore=tests/e2e_k8s --ignore=tests/e2e_node

unit: install
	$(PYTEST) tests --ignore=tests/e2e_k8s --ignore=tests/e2e_node --ignore=tests/e2e_mpi

e2e-mpi: install system-deps
	$(PYTEST) tests/e2e_mpi

e2e-k8s: install
	bash scripts/build-tools.sh
	$(PYTEST) tests/e2e_k8s

node-deps:
	sh scripts/install-node-deps.sh

base-images: node-deps
	bash scripts/base-images.sh

e2e-node: install system-deps node-deps
	bash scripts/build-tools.sh
	bash scripts/base-images.sh
	REGISTRY='$(REGISTRY)' TAG='$(TAG)' BUILDER=buildah BUILD_PULL=never PIP_CA_BUNDLE='$(NODE_CA_BUNDLE)' \
		bash scripts/images.sh build
	REGISTRY='$(REGISTRY)' TAG='$(TAG)' $(PYTEST) tests/e2e_node

images:
	REGISTRY='$(REGISTRY)' TAG='$(TAG)' BUILDER='$(BUILDER)' PIP_CA_BUNDLE='$(PIP_CA_BUNDLE)' \
		bash scripts/images.sh build

push: images
	REGISTRY='$(REGISTRY)' TAG='$(TAG)' BUILDER='$(BUILDER)' bash scripts/images.sh push

# wrk (Debian package) is the HTTP load generator of the benchmarks.
bench: install
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && echo "make bench: installing wrk" && export DEBIAN_FRONTEND=noninteractive \
	  && apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk; } \
	  || { echo "make bench: needs wrk, the HTTP load generator: run apt-get install wrk as root" >&2; exit 1; }
	$(PYTHON) -m bench.run

# Hook calls per MPIJob per idle hour on the real control plane (BENCHMARKS.md, "Idle jobs").
bench-idle: install
	bash scripts/build-tools.sh
	$(PYTHON) -m bench.idle

fuzz: install
	MPIFN_FUZZ_EXAMPLES=$${MPIFN_FUZZ_EXAMPLES:-50000} $(PYTEST) tests/test_properties.py -p no:cacheprovider

soak: install
	$(PYTHON) soak/run.py

render: install
	$(PYTHON) -m mpifn render examples/hello.yaml

manifests: install
	$(PYTHON) -m mpifn manifests

# A kustomization of DEPLOY with every image as $(REGISTRY)/<name>:$(TAG): kubectl apply -k $(OVERLAY)
DEPLOY ?= deploy/knative
OVERLAY ?= overlay
overlay: install
	$(PYTHON) -m mpifn overlay $(DEPLOY) --registry '$(REGISTRY)' --tag '$(TAG)' --out '$(OVERLAY)'

clean:
	rm -rf $(STAMP) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
