#!/usr/bin/env bash
# Fuzzes the served API against its own OpenAPI document with schemathesis (from PyPI,
# pinned): a real `antidoted api` on 127.0.0.1 over a fresh database holding the example
# curriculum, called with the admin token. Fails on any 5xx, any status the document does
# not list for the route, and any response whose body, headers or content type disagree
# with the document. Bounded: at most $ST_MAX_EXAMPLES cases per operation and phase.
#
# Needs PostgreSQL on 127.0.0.1:5432 (scripts/postgres.sh) and a built `antidoted` (its
# path in $ANTIDOTED, default: the debug build under $CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

schemathesis_version=4.32.5
venv="${ST_VENV:-/var/tmp/antidote-scheduler-schemathesis-$schemathesis_version}"
max_examples="${ST_MAX_EXAMPLES:-100}"
target_dir="${CARGO_TARGET_DIR:-target}"
antidoted="${ANTIDOTED:-$target_dir/debug/antidoted}"
database="postgres://postgres@127.0.0.1:5432/antidote_schemathesis"
token="schemathesis-admin-token"

if [ ! -x "$venv/bin/st" ] || ! "$venv/bin/st" --version | grep -q "$schemathesis_version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

# A fresh database each run: what one run created never changes the next one's answers.
psql -q -h 127.0.0.1 -U postgres -d postgres -c "drop database if exists antidote_schemathesis"
DATABASE_URL="$database" "$antidoted" migrate >/dev/null
DATABASE_URL="$database" "$antidoted" curriculum import example-curriculum >/dev/null

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$(mktemp)"
workdir="$(mktemp -d)"
# The fuzzer is one client writing far faster than any learner: with the rate limits and
# the session limit in force, nearly every write would be a 429 and the logic behind it
# untested. The tests cover those limits; here they are lifted.
DATABASE_URL="$database" ANTIDOTE_ADMIN_TOKEN="$token" \
    ANTIDOTE_HTTP_ADDRESS=127.0.0.1 ANTIDOTE_HTTP_PORT="$port" \
    ANTIDOTE_GATEWAY_ADDRESS=127.0.0.1 ANTIDOTE_GATEWAY_PORT=0 \
    ANTIDOTE_LIVE_SESSION_LIMIT=0 \
    ANTIDOTE_RATE_LIMIT_PER_ADDRESS_PER_MINUTE=0 ANTIDOTE_RATE_LIMIT_GLOBAL_PER_SECOND=0 \
    "$antidoted" api >"$log" 2>&1 &
api=$!
trap 'kill "$api" 2>/dev/null || true; wait "$api" 2>/dev/null || true; rm -rf "$log" "$workdir"' EXIT

for _ in $(seq 1 100); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/readyz', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$api" 2>/dev/null; then
        cat "$log" >&2
        echo "antidoted api exited before it was ready" >&2
        exit 1
    fi
    sleep 0.1
done

# Run from a scratch directory: schemathesis keeps a cache of what it found in `.schemathesis`
# under the working directory, which must not land in the clone.
(cd "$workdir" && "$venv/bin/st" run "http://127.0.0.1:$port/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$max_examples" \
    --seed 21 \
    --workers 1 \
    --request-timeout 10 \
    --suppress-health-check all)

# No handler panicked while being fuzzed (a panic would also have been a 500 above).
if grep -q panicked "$log"; then
    grep panicked "$log" | head -20 >&2
    echo "antidoted panicked while being fuzzed" >&2
    exit 1
fi
