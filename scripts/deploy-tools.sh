#!/usr/bin/env bash
# Builds the pinned deployment tools, helm and kustomize, from Go modules into a cache
# outside the repository, for .ci/run's chart step and tests/deploy (which render the Helm
# chart and the kustomize base and compare them). Nothing of either tool is committed;
# both modules are built as released (`go install module/cmd@version`: neither go.mod has
# replace directives).
#
#   scripts/deploy-tools.sh            build if missing, print the bin directory
#   scripts/deploy-tools.sh bin-dir    print the bin directory only
#
# Environment: ANTIDOTE_TOOLS_CACHE (default /var/tmp/antidote-tools); the Go module and
# build caches live under it too, so `du -sh` of it is the whole disk cost and removing it
# removes everything. The build cache is removed after a successful build unless
# ANTIDOTE_TOOLS_KEEP_GOCACHE=1. Builds run under `nice` with `-p 2` so a Rust build beside
# them still progresses. Idempotent: a finished build leaves a stamp naming the pins.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=deploy-tools.pins
source "$here/deploy-tools.pins"

cache="${ANTIDOTE_TOOLS_CACHE:-/var/tmp/antidote-tools}"
root="$cache/helm-$HELM_VERSION-kustomize-$KUSTOMIZE_VERSION"
bin="$root/bin"
stamp="$bin/.complete"
pins="helm=$HELM_VERSION kustomize=$KUSTOMIZE_VERSION"

case "${1:-build}" in
bin-dir)
    echo "$bin"
    exit 0
    ;;
build) ;;
*)
    echo "usage: $0 [build|bin-dir]" >&2
    exit 2
    ;;
esac

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pins" ]; then
    echo "$bin"
    exit 0
fi

command -v go >/dev/null || {
    echo "deploy-tools: Go is not installed (needs Go >= 1.26 and the module proxy)" >&2
    exit 1
}

export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-mod=mod"
export GOMODCACHE="$cache/gomod"
export GOCACHE="$cache/gocache"
export GOBIN="$bin"
mkdir -p "$bin"
rm -f "$stamp"
started=$(date +%s)

log() { printf 'deploy-tools: %s\n' "$*" >&2; }

install() { nice -n 10 go install -p 2 -trimpath "$@"; }

# helm's Makefile sets its version (a module build would say v3.N-dev) and the Kubernetes
# version helm assumes without a cluster (`.Capabilities.KubeVersion` in `helm template`,
# and what `helm lint` checks deprecations against; v1.20 otherwise) from its client-go
# requirement: v0.N.M means Kubernetes 1.N. The same flags here.
log "building helm $HELM_VERSION (a cold build downloads the modules and takes minutes)"
helm_mod="$(go mod download -json "$HELM_MODULE@$HELM_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
[ -f "$helm_mod" ] || {
    log "could not download $HELM_MODULE@$HELM_VERSION"
    exit 1
}
client_go="$(sed -n 's|^[[:space:]]*k8s\.io/client-go v0\.\([0-9]*\)\..*$|\1|p' "$helm_mod")"
[ -n "$client_go" ] || {
    log "$HELM_MODULE@$HELM_VERSION: no k8s.io/client-go v0.N requirement in $helm_mod"
    exit 1
}
ldflags="-s -w"
ldflags="$ldflags -X $HELM_MODULE/internal/version.version=$HELM_VERSION"
ldflags="$ldflags -X $HELM_MODULE/internal/version.gitTreeState=clean"
for pkg in pkg/chartutil pkg/lint/rules; do
    ldflags="$ldflags -X $HELM_MODULE/$pkg.k8sVersionMajor=1 -X $HELM_MODULE/$pkg.k8sVersionMinor=$client_go"
done
install -ldflags "$ldflags" "$HELM_MODULE/cmd/helm@$HELM_VERSION"

log "building kustomize $KUSTOMIZE_VERSION"
install -ldflags "-s -w" "$KUSTOMIZE_MODULE@$KUSTOMIZE_VERSION"

for binary in helm kustomize; do
    [ -x "$bin/$binary" ] || {
        log "the build did not produce $binary"
        exit 1
    }
done
"$bin/helm" version --short >&2
"$bin/kustomize" version >&2
echo "$pins" >"$stamp"
log "built in $(($(date +%s) - started))s; cache $(du -sh "$cache" | cut -f1) with Go's build cache"
# The binaries are what later runs use; Go's build cache only speeds up a rebuild after
# the pins change. ANTIDOTE_TOOLS_KEEP_GOCACHE=1 keeps it.
if [ "${ANTIDOTE_TOOLS_KEEP_GOCACHE:-0}" != 1 ]; then
    rm -rf "$GOCACHE"
fi
log "cache now $(du -sh "$cache" | cut -f1)"
echo "$bin"
