#!/usr/bin/env bash
# shellcheck disable=SC2329  # the build_* functions and their helpers run by name, through run_build
# Build the real control-plane components used by tests/e2e_k8s from Go modules.
#
# Idempotent: every tool goes into its own folder of the cache, keyed by tool
# and version, e.g. $ROOT/kubernetes-v1.36.3/bin/kube-apiserver; a tool whose
# binaries already exist is skipped. Nothing is written inside the repository.
#
# Usage: scripts/build-tools.sh [etcd|kubernetes|kwok|crictl|coredns|kube-state-metrics|helm|mpi-operator|kueue ...]
#        (no argument: all the test suites need; exits non-zero if any fails)
#
# kubernetes includes kubelet and kube-proxy, and crictl and coredns serve the
# real-node suite (tests/e2e_node). kube-state-metrics exports the MPIJobs'
# metrics from the metrics Component's configuration (tests/e2e_k8s/test_metrics.py).
# helm lints, renders and installs charts/mpifn (tests/test_chart.py,
# tests/e2e_k8s/test_chart*.py). mpi-operator is Kubeflow's MPI Operator, the
# reference `python -m bench.race` and the Kueue tests compare with: its binary
# and, beside it in crd/, its MPIJob CRD from the same module. kueue is Kueue's
# manager (cmd/kueue) and, beside it in config/, the module's config/ folder
# (CRDs, RBAC, webhook manifests). Metacontroller is not built here: the
# tests take a path to a binary (MPIFN_METACONTROLLER_BIN) and otherwise use
# the stand-in driver.
#
# Environment:
#   MPIFN_TOOLS_DIR          cache root (default $HOME/.cache/mpifn-tools)
#   ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION, CRICTL_VERSION,
#   COREDNS_VERSION, KUBE_STATE_METRICS_VERSION, HELM_VERSION, MPI_OPERATOR_VERSION,
#   KUEUE_VERSION            override the pinned versions
#
# The machine's Go (1.26) builds all of these. Should a pinned module ever
# need Go 1.27, `export GOTOOLCHAIN=go1.27.3` is the approved way to get it.
set -euo pipefail

ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.36.3}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.37.0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
KUBE_STATE_METRICS_VERSION="${KUBE_STATE_METRICS_VERSION:-v2.20.0}"
HELM_VERSION="${HELM_VERSION:-v4.3.2}"
MPI_OPERATOR_VERSION="${MPI_OPERATOR_VERSION:-v0.8.0}"
KUEUE_VERSION="${KUEUE_VERSION:-v0.17.0}"

ROOT="${MPIFN_TOOLS_DIR:-$HOME/.cache/mpifn-tools}"
BUILD_ROOT="$ROOT/_build"
mkdir -p "$ROOT" "$BUILD_ROOT"

export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"
GO_BUILD=(go build -trimpath "-ldflags=-s -w")

log() { printf '[build-tools] %s\n' "$*" >&2; }

# have DIR NAME... : true when every named binary exists in DIR/bin
have() {
    local dir="$1"; shift
    local b
    for b in "$@"; do
        [[ -x "$dir/bin/$b" ]] || return 1
    done
}

# timed TOOL VERSION FUNC : run FUNC, print and record how long it took
timed() {
    local tool="$1" version="$2" fn="$3"
    local start end
    start=$(date +%s)
    "$fn"
    end=$(date +%s)
    log "$tool $version built in $((end - start))s"
    printf '%s %s %ss %s\n' "$tool" "$version" "$((end - start))" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        >>"$ROOT/build-times.log"
}

# new_module DIR : a fresh consumer module in DIR
new_module() {
    local dir="$1"
    rm -rf "$dir"
    mkdir -p "$dir"
    (cd "$dir" && go mod init mpifn-tools-consumer >/dev/null 2>&1)
}

# install_bins SRC DEST NAME... : move freshly built binaries into DEST/bin
install_bins() {
    local src="$1" dest="$2"; shift 2
    mkdir -p "$dest/bin"
    local b
    for b in "$@"; do
        mv -f "$src/$b" "$dest/bin/$b"
    done
}

# ---------------------------------------------------------------- etcd
build_etcd() {
    local dest="$ROOT/etcd-$ETCD_VERSION" work="$BUILD_ROOT/etcd-$ETCD_VERSION"
    new_module "$work"
    cd "$work"
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    # server/main.go is the etcd binary's main package
    "${GO_BUILD[@]}" -o "$work/out/etcd" go.etcd.io/etcd/server/v3
    install_bins "$work/out" "$dest" etcd
    cd "$ROOT"
}

# ---------------------------------------------------------- kubernetes
# kubelet and kube-proxy serve tests/e2e_node; they share most packages with the rest
K8S_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
build_kubernetes() {
    local dest="$ROOT/kubernetes-$KUBERNETES_VERSION" work="$BUILD_ROOT/kubernetes-$KUBERNETES_VERSION"
    local staging="v0.${KUBERNETES_VERSION#v1.}"
    new_module "$work"
    cd "$work"
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    # every staging module that k8s.io/kubernetes replaces with ./staging/...
    local mods
    mods=$(sed -nE 's#^[[:space:]]*(k8s\.io/[A-Za-z0-9._-]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\1#p' "$gomod" | sort -u)
    [[ -n "$mods" ]] || { log "no staging replace lines found in $gomod"; return 1; }
    {
        echo
        echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
        echo
        echo "replace ("
        local m
        for m in $mods; do
            echo "	$m => $m $staging"
        done
        echo ")"
    } >>go.mod
    log "kubernetes $KUBERNETES_VERSION: $(wc -w <<<"$mods") staging modules replaced at $staging"
    local pkgs=() b
    for b in "${K8S_BINS[@]}"; do
        pkgs+=("k8s.io/kubernetes/cmd/$b")
    done
    # resolve the whole build list once (pinned: a bare `go get` of a package
    # would move k8s.io/kubernetes to its newest release), then build
    go get "${pkgs[@]/%/@$KUBERNETES_VERSION}"
    mkdir -p out
    # stamp the version (a plain `go build` reports v0.0.0-master)
    local minor="${KUBERNETES_VERSION#v1.}"
    minor="${minor%%.*}"
    local x="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
    x+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    x+=" -X k8s.io/component-base/version.gitTreeState=clean"
    x+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
    x+=" -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    go build -trimpath "-ldflags=-s -w $x" -o "$work/out/" "${pkgs[@]}"
    install_bins "$work/out" "$dest" "${K8S_BINS[@]}"
    cd "$ROOT"
}

# Append the replace directives of a module's go.mod (those pointing at other
# modules, not local paths) to the consumer module being built in the cwd.
carry_replaces() {
    python3 - "$1" >>go.mod <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
lines = []
for block in re.findall(r'^replace\s*\((.*?)^\)', text, re.S | re.M):
    lines += block.strip().splitlines()
lines += re.findall(r'^replace\s+([^(].*)$', text, re.M)
out = [l.strip() for l in lines if "=>" in l and not l.split("=>")[1].strip().startswith(".")]
if out:
    print("\nreplace (\n" + "\n".join("\t" + l for l in out) + "\n)")
EOF
}

# build_main_package NAME VERSION MODULE PACKAGE : build one command of a module
# (kwok, crictl, CoreDNS) in a consumer module, carrying over the module's own
# replace directives that point at other modules
build_main_package() {
    local name="$1" version="$2" module="$3" package="$4"
    local dest="$ROOT/$name-$version" work="$BUILD_ROOT/$name-$version"
    new_module "$work"
    cd "$work"
    local gomod
    gomod=$(go mod download -json "$module@$version" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    if grep -qE '^[[:space:]]*replace' "$gomod"; then
        carry_replaces "$gomod"
    fi
    go get "$package@$version"
    "${GO_BUILD[@]}" -o "$work/out/$name" "$package"
    install_bins "$work/out" "$dest" "$name"
    cd "$ROOT"
}

build_kwok() { build_main_package kwok "$KWOK_VERSION" sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok; }
build_crictl() { build_main_package crictl "$CRICTL_VERSION" sigs.k8s.io/cri-tools sigs.k8s.io/cri-tools/cmd/crictl; }
build_coredns() { build_main_package coredns "$COREDNS_VERSION" github.com/coredns/coredns github.com/coredns/coredns; }
build_kube_state_metrics() {
    local module=k8s.io/kube-state-metrics/v2
    build_main_package kube-state-metrics "$KUBE_STATE_METRICS_VERSION" "$module" "$module"
}
# helm from its Go module, stamped with its version (a plain `go build` reports v4.3)
build_helm() {
    local dest="$ROOT/helm-$HELM_VERSION" work="$BUILD_ROOT/helm-$HELM_VERSION"
    local package=helm.sh/helm/v4/cmd/helm
    new_module "$work"
    cd "$work"
    go get "$package@$HELM_VERSION"
    go build -trimpath "-ldflags=-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
        -o "$work/out/helm" "$package"
    install_bins "$work/out" "$dest" helm
    cd "$ROOT"
}
# module_dir MODULE VERSION : where the module's extracted zip is in the module cache
module_dir() {
    go mod download -json "$1@$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}
build_mpi_operator() {
    local module=github.com/kubeflow/mpi-operator
    build_main_package mpi-operator "$MPI_OPERATOR_VERSION" "$module" "$module/cmd/mpi-operator"
    mkdir -p "$ROOT/mpi-operator-$MPI_OPERATOR_VERSION/crd"
    cp "$(module_dir "$module" "$MPI_OPERATOR_VERSION")/manifests/base/kubeflow.org_mpijobs.yaml" \
        "$ROOT/mpi-operator-$MPI_OPERATOR_VERSION/crd/"
}
build_kueue() {
    local module=sigs.k8s.io/kueue dest="$ROOT/kueue-$KUEUE_VERSION"
    build_main_package kueue "$KUEUE_VERSION" "$module" "$module/cmd/kueue"
    rm -rf "$dest/config"
    cp -R "$(module_dir "$module" "$KUEUE_VERSION")/config" "$dest/config"
    chmod -R u+w "$dest/config"
}

# run_build TOOL VERSION FUNC : build in a subshell with errexit in force
# (a function called from `if`/`||` would run with errexit silently off)
# The build's output is kept in $BUILD_ROOT/TOOL-VERSION.log; on failure its
# last lines go to $ROOT/TOOL-VERSION.build-error, which the test harness
# quotes when the binary is missing.
run_build() {
    local st blog="$BUILD_ROOT/$1-$2.log" err="$ROOT/$1-$2.build-error"
    set +e
    (
        set -euo pipefail
        timed "$@"
    ) 2>&1 | tee "$blog" >&2
    st=${PIPESTATUS[0]}
    set -e
    if [[ $st -ne 0 ]]; then
        log "$1 $2 build FAILED (exit $st); log: $blog"
        {
            echo "scripts/build-tools.sh $1 failed on $(date -u +%Y-%m-%dT%H:%M:%SZ) (exit $st); last lines:"
            grep -v '^go: downloading' "$blog" | tail -n 15
        } >"$err"
        rc=1
    else
        rm -f "$err"
    fi
}

# ----------------------------------------------------------------- main
ALL=(etcd kubernetes kwok crictl coredns kube-state-metrics helm mpi-operator kueue)
if [[ $# -gt 0 ]]; then
    WANT=("$@")
else
    WANT=("${ALL[@]}")
fi

go version >&2
rc=0
for tool in "${WANT[@]}"; do
    case "$tool" in
    etcd)
        if have "$ROOT/etcd-$ETCD_VERSION" etcd; then log "etcd $ETCD_VERSION cached"
        else run_build etcd "$ETCD_VERSION" build_etcd; fi ;;
    kubernetes)
        if have "$ROOT/kubernetes-$KUBERNETES_VERSION" "${K8S_BINS[@]}"; then log "kubernetes $KUBERNETES_VERSION cached"
        else run_build kubernetes "$KUBERNETES_VERSION" build_kubernetes; fi ;;
    kwok)
        if have "$ROOT/kwok-$KWOK_VERSION" kwok; then log "kwok $KWOK_VERSION cached"
        else run_build kwok "$KWOK_VERSION" build_kwok; fi ;;
    crictl)
        if have "$ROOT/crictl-$CRICTL_VERSION" crictl; then log "crictl $CRICTL_VERSION cached"
        else run_build crictl "$CRICTL_VERSION" build_crictl; fi ;;
    coredns)
        if have "$ROOT/coredns-$COREDNS_VERSION" coredns; then log "coredns $COREDNS_VERSION cached"
        else run_build coredns "$COREDNS_VERSION" build_coredns; fi ;;
    kube-state-metrics)
        if have "$ROOT/kube-state-metrics-$KUBE_STATE_METRICS_VERSION" kube-state-metrics; then
            log "kube-state-metrics $KUBE_STATE_METRICS_VERSION cached"
        else run_build kube-state-metrics "$KUBE_STATE_METRICS_VERSION" build_kube_state_metrics; fi ;;
    helm)
        if have "$ROOT/helm-$HELM_VERSION" helm; then log "helm $HELM_VERSION cached"
        else run_build helm "$HELM_VERSION" build_helm; fi ;;
    mpi-operator)
        if have "$ROOT/mpi-operator-$MPI_OPERATOR_VERSION" mpi-operator &&
            [[ -f "$ROOT/mpi-operator-$MPI_OPERATOR_VERSION/crd/kubeflow.org_mpijobs.yaml" ]]; then
            log "mpi-operator $MPI_OPERATOR_VERSION cached"
        else run_build mpi-operator "$MPI_OPERATOR_VERSION" build_mpi_operator; fi ;;
    kueue)
        if have "$ROOT/kueue-$KUEUE_VERSION" kueue && [[ -d "$ROOT/kueue-$KUEUE_VERSION/config/components/crd" ]]; then
            log "kueue $KUEUE_VERSION cached"
        else run_build kueue "$KUEUE_VERSION" build_kueue; fi ;;
    *)
        log "unknown tool: $tool (known: ${ALL[*]})"; rc=2 ;;
    esac
done

{
    echo "etcd=$ETCD_VERSION"
    echo "kubernetes=$KUBERNETES_VERSION"
    echo "kwok=$KWOK_VERSION"
    echo "crictl=$CRICTL_VERSION"
    echo "coredns=$COREDNS_VERSION"
    echo "kube-state-metrics=$KUBE_STATE_METRICS_VERSION"
    echo "helm=$HELM_VERSION"
    echo "mpi-operator=$MPI_OPERATOR_VERSION"
    echo "kueue=$KUEUE_VERSION"
    echo "go=$(go env GOVERSION)"
} >"$ROOT/versions.txt"

log "cache: $ROOT"
sed 's/^/[build-tools]   /' "$ROOT/versions.txt" >&2
exit "$rc"
