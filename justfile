# Everyday commands (https://github.com/casey/just). CI runs .ci/run, which does these and
# more (the control plane, schemathesis, the browser tests) on a fresh machine.

set shell := ["bash", "-euo", "pipefail", "-c"]

export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", "/var/tmp/antidote-scheduler-target")
export DATABASE_URL := env_var_or_default("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/antidote")

# The pinned cargo-deny of `just deny` and CI.
cargo_deny_version := "0.18.9"

# Lists the recipes.
default:
    @just --list

# Formats every crate (the fuzz crate too).
fmt:
    cargo fmt --all
    cargo fmt --manifest-path fuzz/Cargo.toml

# Lints every target with warnings as errors.
clippy:
    cargo clippy --workspace --all-targets -- -D warnings

# The README's test command, then the doc tests (nextest runs none).
test:
    bash scripts/postgres.sh
    cargo run -q --bin antidoted -- migrate
    cargo nextest run --workspace
    cargo test --doc --workspace

# Licences and sources of every dependency, then security advisories offline against the
# snapshot of RustSec's database that scripts/advisory-db.sh installs (deny.toml).
deny:
    @cargo deny --version 2>/dev/null | grep -qx "cargo-deny {{cargo_deny_version}}" \
        || cargo install --locked --debug cargo-deny@{{cargo_deny_version}}
    cargo deny check licenses sources bans
    bash scripts/advisory-db.sh >/dev/null
    cargo deny check --disable-fetch advisories

# Refreshes the offline query cache (.sqlx/) from a migrated database.
sqlx-prepare:
    cargo run -q --bin antidoted -- migrate
    SQLX_OFFLINE=false cargo sqlx prepare --workspace -- --all-targets

# The README's main command: the whole system on an embedded Kubernetes simulator.
demo:
    cargo run --bin antidoted -- demo
