#!/usr/bin/env bash
# Runs the image built by scripts/image.sh the way a container runtime does: `umoci unpack`
# makes an OCI runtime bundle of it and Debian's `crun` runs its entrypoint, as user 65532
# on a read-only root filesystem, with no capabilities and no new privileges. The container shares the host's
# network namespace (its PostgreSQL and kubesim listen on 127.0.0.1), and gets a kubeconfig
# bind-mounted read-only. It checks:
#
#   1. `antidoted version` prints the version;
#   2. `antidoted migrate` applies the migrations to $DATABASE_URL, and `antidoted
#      curriculum import` stores the example curriculum the image carries;
#   3. `antidoted serve` answers /readyz with 200 and takes a livelesson request, whose
#      CREATE a worker of the container claims;
#   4. SIGTERM, while its worker provisions a lab whose pods start 30 s late, stops it
#      within its shutdown grace with exit status 0 and hands the CREATE back (runnable
#      again, the attempt not counted).
#
# Environment: DATABASE_URL (a database this script may migrate and write), KUBESIM (the
# kubesim binary; default: built with cargo), ANTIDOTE_IMAGE_DIR (as scripts/image.sh).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
layout="$(bash "$here/image.sh" layout-dir)"
tag="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n1)"
url="${DATABASE_URL:?DATABASE_URL must name a database to migrate}"
port=18086

command -v crun >/dev/null || {
    echo "image-smoke: crun is not installed (apt-get install crun)" >&2
    exit 1
}
log() { printf 'image-smoke: %s\n' "$*" >&2; }

# crun refuses a "hybrid" cgroup layout (v1 controllers beside a cgroup2 mount that holds a
# controller too), which this machine kind has: it runs in a mount namespace of its own in
# which the cgroup2 mount is hidden, with no cgroup of its own (`--cgroup-manager=disabled`:
# no resource limits, which this check does not need). The host's mounts are untouched.
runtime() {
    unshare --mount --propagation private sh -c \
        'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
         exec crun --cgroup-manager=disabled "$@"' crun "$@"
}

work="$(mktemp -d)"
name="antidote-smoke-$$"
cleanup() {
    runtime kill "$name" KILL 2>/dev/null || true
    runtime delete --force "$name" 2>/dev/null || true
    [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

bundle="$work/bundle"
umoci unpack --image "$layout:$tag" "$bundle" >/dev/null

# A kubeconfig the container reads: kubesim on loopback.
kubesim="${KUBESIM:-}"
if [ -z "$kubesim" ]; then
    (cd "$repo" && cargo build -q --bin kubesim -p kubesim)
    kubesim="${CARGO_TARGET_DIR:-$repo/target}/debug/kubesim"
fi
# Pods start 30 s late, so the CREATE is still provisioning when SIGTERM comes.
"$kubesim" serve --kubeconfig "$work/kubeconfig" --pod-start-latency-secs 30 \
    >"$work/kubesim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [ -s "$work/kubeconfig" ] && break; sleep 0.1; done
[ -s "$work/kubeconfig" ] || { cat "$work/kubesim.log" >&2; exit 1; }
chmod 0644 "$work/kubeconfig"
# What an operator prepares before the first lab: the secrets namespace and the TLS secret
# every livelesson copies (the defaults `prod` and `tls-certificate`).
server="$(sed -n 's/^ *server: //p' "$work/kubeconfig")"
curl -fsS -X POST "$server/api/v1/namespaces" -H 'content-type: application/json' \
    -d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"prod"}}' >/dev/null
curl -fsS -X POST "$server/api/v1/namespaces/prod/secrets" -H 'content-type: application/json' \
    -d '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"tls-certificate"},"type":"kubernetes.io/tls","stringData":{"tls.crt":"certificate","tls.key":"key"}}' >/dev/null
cat >"$work/config.yaml" <<CONFIG
httpAddress: 127.0.0.1
httpPort: $port
gateway:
  address: 127.0.0.1
  port: 0
kubernetes:
  kubeconfig: /etc/antidote/kubeconfig
worker:
  shutdownGraceSecs: 5
CONFIG
chmod 0644 "$work/config.yaml"

# The runtime configuration: what `docker run --read-only --cap-drop ALL --network host
# --user 65532 -v kubeconfig:/etc/antidote/kubeconfig:ro` would give, for `args`.
configure() {
    python3 - "$bundle/config.json" "$url" "$work" "$@" <<'EOF'
import json, sys
path, url, work, *args = sys.argv[1:]
config = json.load(open(path))
process = config["process"]
process["terminal"] = False
process["args"] = ["/usr/local/bin/antidoted", *args]
process["user"] = {"uid": 65532, "gid": 65532}
process["env"] = [e for e in process.get("env", []) if not e.startswith(("DATABASE_URL=", "ANTIDOTE_"))] + [
    f"DATABASE_URL={url}",
    "ANTIDOTE_CONFIG=/etc/antidote/config.yaml",
]
caps = process.setdefault("capabilities", {})
for key in ("bounding", "effective", "inheritable", "permitted", "ambient"):
    caps[key] = []
process["noNewPrivileges"] = True
config["root"]["readonly"] = True
config["mounts"] = [m for m in config.get("mounts", []) if not m["destination"].startswith("/etc/antidote")] + [
    {"destination": f"/etc/antidote/{file}", "type": "bind", "source": f"{work}/{file}",
     "options": ["rbind", "ro"]}
    for file in ("kubeconfig", "config.yaml")
] + [
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "nodev", "mode=1777", "size=16m"]},
]
linux = config.setdefault("linux", {})
linux["namespaces"] = [n for n in linux.get("namespaces", []) if n["type"] != "network"]
json.dump(config, open(path, "w"), indent=2)
EOF
}

configure version
out="$(runtime run --bundle "$bundle" "$name")"
log "version: $out"
grep -q "$tag" <<<"$out" || { log "version does not name $tag"; exit 1; }

configure migrate
runtime run --bundle "$bundle" "$name" >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
log "migrate: done"
configure curriculum import /usr/share/antidote/example-curriculum
runtime run --bundle "$bundle" "$name" >"$work/import.log" 2>&1 || { cat "$work/import.log" >&2; exit 1; }
log "curriculum import: $(tail -n1 "$work/import.log")"

configure serve
runtime run --bundle "$bundle" "$name" >"$work/serve.log" 2>&1 &
serve_pid=$!
ready=""
for _ in $(seq 300); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
        ready=yes
        break
    fi
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$ready" ] || { cat "$work/serve.log" >&2; log "serve never answered /readyz"; exit 1; }
log "serve: /readyz 200"

# A learner's request: the container's worker claims its CREATE.
session="$(curl -fsS -X POST "http://127.0.0.1:$port/exp/livesession" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ID"])')"
lesson="$(psql "$url" -Atc "select slug from curriculum_lessons order by slug limit 1")"
curl -fsS -X POST "http://127.0.0.1:$port/exp/livelesson" \
    -H 'content-type: application/json' \
    -d "{\"lessonSlug\":\"$lesson\",\"sessionId\":\"$session\",\"lessonStage\":0}" >/dev/null
log "requested $lesson in session $session"

# Stop it while its worker holds the CREATE (claimed, provisioning), so that shutdown has a
# running job to finish or hand back.
for _ in $(seq 100); do
    running="$(psql "$url" -Atc "select count(*) from jobs where state = 'running'")"
    [ "$running" -gt 0 ] && break
    sleep 0.1
done
log "jobs running at SIGTERM: $running"
started=$(date +%s)
runtime kill "$name" TERM
status=0
wait "$serve_pid" || status=$?
took=$(($(date +%s) - started))
log "serve: stopped by SIGTERM in ${took} s, exit status $status"
[ "$status" -eq 0 ] || { cat "$work/serve.log" >&2; exit 1; }
[ "$took" -le 15 ] || { log "took longer than the grace (5 s) allows"; exit 1; }
claimed="$(psql "$url" -Atc "select count(*) from jobs where state = 'running'")"
[ "$claimed" -eq 0 ] || { log "$claimed jobs still claimed after shutdown"; exit 1; }
# kubesim starts pods 30 s late: the CREATE cannot have finished within the 5 s grace, so
# shutdown must have handed it back (runnable at once, the attempt not counted).
create="$(psql "$url" -Atc "select state || ' ' || attempt || ' ' ||
    (select count(*) from job_events e where e.job_id = j.id and e.kind = 'handed_back')
    from jobs_all j where kind = 'livelesson.create'")"
[ "$create" = "available 0 1" ] || {
    log "the CREATE was not handed back (state, attempt, handed_back events: $create)"
    exit 1
}
log "the CREATE was handed back: available again, the attempt not counted"
log "no job left claimed; the livelesson's jobs: $(psql "$url" -Atc \
    "select string_agg(kind || ' ' || state, ', ' order by id) from jobs_all where kind like 'livelesson.%'")"
