#!/usr/bin/env bash
# Builds the pinned Kubernetes control plane (kube-apiserver, kube-controller-manager and
# etcd) from Go modules into a cache outside the repository, for the `real_control_plane`
# test tier. Nothing of Kubernetes is committed: this script writes a small wrapper module
# in the cache that requires k8s.io/kubernetes at the pinned release and replaces each of
# its staging modules (required there at v0.0.0) with the matching published v0.N.M,
# the list generated from that release's own go.mod.
#
#   scripts/k8s-control-plane.sh            build if missing, print the bin directory
#   scripts/k8s-control-plane.sh bin-dir    print the bin directory only
#
# Environment: ANTIDOTE_K8S_CACHE (default /var/tmp/antidote-k8s); the Go module and
# build caches live under it too, so `du -sh` of it is the whole disk cost and removing
# it removes everything. The build cache is removed after a successful build unless
# ANTIDOTE_K8S_KEEP_GOCACHE=1. Builds run under `nice` with `-p 2` so a Rust build beside it
# still progresses. Idempotent: a finished build leaves a stamp naming the pins.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=k8s-control-plane.pins
source "$here/k8s-control-plane.pins"

cache="${ANTIDOTE_K8S_CACHE:-/var/tmp/antidote-k8s}"
root="$cache/$KUBERNETES_VERSION"
bin="$root/bin"
src="$root/src"
stamp="$bin/.complete"
pins="kubernetes=$KUBERNETES_VERSION etcd=$ETCD_MODULE"

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
    echo "k8s-control-plane: Go is not installed (needs Go >= 1.24 and the module proxy)" >&2
    exit 1
}

export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-mod=mod"
export GOMODCACHE="$cache/gomod"
export GOCACHE="$cache/gocache"
mkdir -p "$src" "$bin"
started=$(date +%s)

log() { printf 'k8s-control-plane: %s\n' "$*" >&2; }

log "fetching k8s.io/kubernetes@$KUBERNETES_VERSION"
if [ ! -f "$src/go.mod" ]; then
    (cd "$src" && go mod init antidote.invalid/k8s-control-plane 2>/dev/null)
fi
k8s_mod="$(cd "$src" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
[ -f "$k8s_mod" ] || {
    log "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
    exit 1
}

# Staging modules are published as k8s.io/X v0.<minor>.<patch> of the same release.
staging_version="v0.${KUBERNETES_VERSION#v1.}"
go_line="$(grep -m1 '^go ' "$k8s_mod")"
godebug_line="$(grep -m1 '^godebug ' "$k8s_mod" || true)"

{
    echo "module antidote.invalid/k8s-control-plane"
    echo
    echo "$go_line"
    [ -n "$godebug_line" ] && echo "$godebug_line"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    sed -n 's|^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/k8s\.io/.*$|\1|p' "$k8s_mod" |
        while read -r module; do
            printf '\t%s => %s %s\n' "$module" "$module" "$staging_version"
        done
    echo ")"
} >"$src/go.mod"
rm -f "$src/go.sum"

# The commands are main packages: a file excluded by a build tag names them so that
# `go mod tidy` resolves their dependencies without ever compiling the import.
cat >"$src/tools.go" <<GO
//go:build tools

package tools

import (
	_ "$ETCD_MODULE"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO

log "resolving the module graph"
(cd "$src" && go mod tidy)

minor="${KUBERNETES_VERSION#v1.}"
minor="${minor%%.*}"
ldflags="-s -w"
for pair in \
    "gitVersion=$KUBERNETES_VERSION" \
    "gitMajor=1" \
    "gitMinor=$minor" \
    "gitTreeState=clean" \
    "buildDate=1970-01-01T00:00:00Z"; do
    ldflags="$ldflags -X k8s.io/component-base/version.$pair"
    ldflags="$ldflags -X k8s.io/client-go/pkg/version.$pair"
done

log "building kube-apiserver, kube-controller-manager and etcd (a cold build takes a while)"
build() { (cd "$src" && nice -n 10 go build -p 2 -trimpath "$@"); }
build -ldflags "$ldflags" -o "$bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager
# etcd's main package is its module root, which `go build` would name `server`.
build -ldflags "-s -w" -o "$bin/etcd" "$ETCD_MODULE"

for binary in kube-apiserver kube-controller-manager etcd; do
    [ -x "$bin/$binary" ] || {
        log "the build did not produce $binary"
        exit 1
    }
done
echo "$pins" >"$stamp"
log "built in $(($(date +%s) - started))s; cache $(du -sh "$cache" | cut -f1) with Go's build cache"
# The binaries are what later runs use; Go's build cache (about 3 GB) only speeds up a
# rebuild after the pins change. ANTIDOTE_K8S_KEEP_GOCACHE=1 keeps it.
if [ "${ANTIDOTE_K8S_KEEP_GOCACHE:-0}" != 1 ]; then
    rm -rf "$GOCACHE"
fi
log "cache now $(du -sh "$cache" | cut -f1)"
echo "$bin"
