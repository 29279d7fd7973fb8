#!/usr/bin/env bash
# Builds the scheduler's OCI image without a container engine, a daemon or a registry pull:
#
#   1. the serving binary: `cargo build --release --locked --no-default-features` (no
#      simulator, benchmarks or demo in it);
#   2. a minimal root filesystem assembled from this Debian machine's own files: the binary,
#      the shared libraries it links (libc, libgcc_s, libm and the loader, as `ldd`
#      reports them), the CA bundle, a passwd/group naming the non-root user 65532, the
#      example curriculum, and an SBOM of the binary's dependency tree;
#   3. an OCI image of one layer with `umoci` (user 65532, entrypoint `antidoted`, command
#      `serve`, port 8086, OCI labels: version, revision, source, created);
#   4. archives outside the repository: the OCI layout as a tar (`skopeo copy oci-archive:`
#      or `podman load` read it) and a docker-archive (`docker load`, `kind load
#      image-archive`).
#
#   scripts/image.sh                 build into $ANTIDOTE_IMAGE_DIR (default
#                                    /var/tmp/antidote-image) and print the figures
#   scripts/image.sh layout-dir      print where the OCI layout is written
#
# Environment: CARGO_TARGET_DIR (as cargo), ANTIDOTE_IMAGE_DIR, ANTIDOTE_IMAGE_PROFILE
# (cargo profile of the binary: `release`, the default; CI builds `dev`, which reuses most
# of its test build's dependencies instead of a cold release build of them). Needs umoci
# and skopeo (Debian packages of those names).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
out="${ANTIDOTE_IMAGE_DIR:-/var/tmp/antidote-image}"
layout="$out/oci"
name=antidote-scheduler

case "${1:-build}" in
layout-dir)
    echo "$layout"
    exit 0
    ;;
build) ;;
*)
    echo "usage: $0 [build|layout-dir]" >&2
    exit 2
    ;;
esac

for tool in umoci skopeo ldd; do
    command -v "$tool" >/dev/null || {
        echo "image: $tool is not installed (apt-get install umoci skopeo)" >&2
        exit 1
    }
done

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n1)"
revision="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
tag="$version"
target="${CARGO_TARGET_DIR:-$repo/target}"

log() { printf 'image: %s\n' "$*" >&2; }

# Pinned; built once per machine into a cache outside the repository.
CYCLONEDX_VERSION=0.5.9
cyclonedx_root="${ANTIDOTE_CYCLONEDX_ROOT:-/var/tmp/cyclonedx}"
sbom_of_serving_build() {
    local bin="$cyclonedx_root/bin/cargo-cyclonedx"
    if ! "$bin" cyclonedx --version 2>/dev/null | grep -q " $CYCLONEDX_VERSION$"; then
        log "building cargo-cyclonedx $CYCLONEDX_VERSION into $cyclonedx_root"
        # Unoptimised (--debug): it runs once per image, in a second either way.
        cargo install --locked --debug --root "$cyclonedx_root" "cargo-cyclonedx@$CYCLONEDX_VERSION" >&2
    fi
    local dir
    dir="$(mktemp -d)"
    # cargo-cyclonedx writes beside each workspace member's manifest (.gitignore'd):
    # keep the root package's, the scheduler's, and remove the others.
    (cd "$repo" && "$bin" cyclonedx --format json --no-default-features --no-build-deps \
        --spec-version 1.5 --override-filename "$name.cdx" -q >&2)
    mv "$repo/$name.cdx.json" "$dir/$name.cdx.json"
    find "$repo/crates" "$repo/kubesim" -maxdepth 2 -name "$name.cdx.json" -delete
    echo "$dir/$name.cdx.json"
}

profile="${ANTIDOTE_IMAGE_PROFILE:-release}"
log "building the serving binary (profile $profile, --no-default-features)"
(cd "$repo" && SQLX_OFFLINE=true cargo build --profile "$profile" --locked \
    --no-default-features --bin antidoted)
case "$profile" in
dev) binary="$target/debug/antidoted" ;;
*) binary="$target/$profile/antidoted" ;;
esac

rm -rf "$out"
mkdir -p "$out"
rootfs="$out/rootfs"
mkdir -p "$rootfs"/{usr/local/bin,etc/ssl/certs,usr/share/antidote,tmp}
chmod 1777 "$rootfs/tmp"
install -m 0755 "$binary" "$rootfs/usr/local/bin/antidoted"
strip --strip-debug "$rootfs/usr/local/bin/antidoted" 2>/dev/null || true

# The libraries the binary links, at the paths the loader looks for them.
ldd "$binary" | awk '/=> \//{print $3} /^\s*\/lib/{print $1}' | sort -u | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
done
# The loader's canonical path (/lib64 on x86-64) when ldd named another.
interp="$(readelf -l "$binary" | sed -n 's/.*interpreter: \(.*\)]/\1/p')"
if [ -n "$interp" ] && [ ! -e "$rootfs$interp" ]; then
    mkdir -p "$rootfs$(dirname "$interp")"
    cp -L "$interp" "$rootfs$interp"
fi

cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
cp -r "$repo/example-curriculum" "$rootfs/usr/share/antidote/example-curriculum"

# What the binary is made of: the serving build's dependency tree as a CycloneDX SBOM,
# written by the pinned cargo-cyclonedx.
sbom="$(sbom_of_serving_build)"
cp "$sbom" "$rootfs/usr/share/antidote/sbom.cdx.json"

log "assembling the OCI image with umoci"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci insert --image "$layout:$tag" --history.created_by "scripts/image.sh: the rootfs" \
    --history.comment "antidoted, its shared libraries, CA bundle, passwd, example curriculum, SBOM" "$rootfs" /
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
umoci config --image "$layout:$tag" --no-history \
    --config.user 65532:65532 \
    --config.entrypoint /usr/local/bin/antidoted \
    --config.cmd serve \
    --config.exposedports 8086/tcp \
    --config.workingdir / \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin \
    --config.label "org.opencontainers.image.title=$name" \
    --config.label "org.opencontainers.image.version=$version" \
    --config.label "org.opencontainers.image.revision=$revision" \
    --config.label "org.opencontainers.image.source=https://github.com/nre-learning/antidote-scheduler" \
    --config.label "org.opencontainers.image.created=$created" \
    --config.label "org.opencontainers.image.licenses=Apache-2.0" \
    --config.label "io.antidote.cargo-profile=$profile"
umoci gc --layout "$layout"

tar -C "$layout" -cf "$out/$name-$tag.oci.tar" .
skopeo --insecure-policy copy -q "oci:$layout:$tag" \
    "docker-archive:$out/$name-$tag.docker.tar:$name:$tag"

compressed=$(find "$layout/blobs" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
unpacked=$(du -sb "$rootfs" | cut -f1)
binary_size=$(stat -c %s "$rootfs/usr/local/bin/antidoted")
log "image $name:$tag: compressed $compressed bytes, unpacked $unpacked bytes, binary $binary_size bytes"
echo "$out/$name-$tag.oci.tar"
