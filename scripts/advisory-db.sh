#!/usr/bin/env bash
# Installs a snapshot of the RustSec advisory database where deny.toml's `db-path` points,
# so that `cargo deny check --disable-fetch advisories` runs without the network (CI does
# not reach GitHub). cargo-deny opens each database as a git repository in a folder named
# after its URL (`advisory-db-3157b0e258782691` for the default URL that deny.toml names);
# this script copies the snapshot there as a repository of one commit dated as the
# snapshot, with HEAD's time set to that date too, so that cargo-deny's staleness check
# (`maximum-db-staleness` in deny.toml) measures the snapshot's age, not the copy's.
#
#   scripts/advisory-db.sh    copy the snapshot if it is not there yet, print db-path
#
# Environment:
#   ANTIDOTE_ADVISORY_DB_SNAPSHOT  the snapshot (default: ../shared/advisory-db beside the
#                                  repository, else /work/shared/advisory-db, where this
#                                  machine kind keeps it for clones made elsewhere): a copy
#                                  of rustsec/advisory-db whose SNAPSHOT.md names its
#                                  commit and date
#   ANTIDOTE_ADVISORY_DBS          db-path (default /var/tmp/antidote-advisory-dbs; deny.toml
#                                  reads the same variable with the same default)
# Fails, saying so, when the snapshot is missing and no copy was installed before (an
# installed copy is then used as it is). Idempotent: a copy made from the same snapshot
# commit is kept.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
dbs="${ANTIDOTE_ADVISORY_DBS:-/var/tmp/antidote-advisory-dbs}"
# cargo-deny's folder for https://github.com/RustSec/advisory-db (its default URL).
db="$dbs/advisory-db-3157b0e258782691"
stamp="$db/.git/antidote-snapshot"

log() { printf 'advisory-db: %s\n' "$*" >&2; }

is_snapshot() { [ -d "$1/crates" ] && [ -f "$1/SNAPSHOT.md" ]; }
if [ -n "${ANTIDOTE_ADVISORY_DB_SNAPSHOT:-}" ]; then
    snapshot="$ANTIDOTE_ADVISORY_DB_SNAPSHOT"
else
    snapshot="$repo/../shared/advisory-db"
    is_snapshot "$snapshot" || snapshot=/work/shared/advisory-db
fi
if ! is_snapshot "$snapshot"; then
    if [ -f "$stamp" ]; then
        log "no snapshot found; using the copy installed before ($(cat "$stamp"))"
        echo "$dbs"
        exit 0
    fi
    log "no advisory database snapshot at $snapshot (a copy of rustsec/advisory-db with"
    log "crates/ and SNAPSHOT.md); set ANTIDOTE_ADVISORY_DB_SNAPSHOT to where it is"
    exit 1
fi
# "... at commit <40 hex> (YYYY-MM-DD) ..." in SNAPSHOT.md.
commit="$(sed -n 's/.*at commit \([0-9a-f]\{40\}\) (\([0-9-]\{10\}\)).*/\1/p' "$snapshot/SNAPSHOT.md" | head -n1)"
date="$(sed -n 's/.*at commit \([0-9a-f]\{40\}\) (\([0-9-]\{10\}\)).*/\2/p' "$snapshot/SNAPSHOT.md" | head -n1)"
if [ -z "$commit" ] || [ -z "$date" ]; then
    log "$snapshot/SNAPSHOT.md names no 'commit <sha> (YYYY-MM-DD)': cannot date the snapshot"
    exit 1
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$commit" ]; then
    echo "$dbs"
    exit 0
fi

log "installing the snapshot of rustsec/advisory-db at $commit ($date) into $db"
rm -rf "$db"
mkdir -p "$dbs"
cp -R "$snapshot" "$db"
chmod -R u+w "$db"
export GIT_AUTHOR_DATE="${date}T00:00:00Z" GIT_COMMITTER_DATE="${date}T00:00:00Z"
git -C "$db" init -q -b main
git -C "$db" add -A
git -C "$db" -c user.name=antidote -c user.email=antidote@invalid \
    commit -q -m "rustsec/advisory-db snapshot at $commit"
# cargo-deny takes the newer of HEAD's commit time and the HEAD file's mtime (a fresh clone
# has no FETCH_HEAD): both are the snapshot's date.
touch -d "${date}T00:00:00Z" "$db/.git/HEAD"
echo "$commit" >"$stamp"
log "$(find "$db/crates" -name 'RUSTSEC-*.md' | wc -l) advisories, snapshot of $date"
echo "$dbs"
