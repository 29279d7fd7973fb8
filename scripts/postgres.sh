#!/usr/bin/env bash
# Makes PostgreSQL 15 answer on 127.0.0.1:5432 with trust auth for local connections, the
# way the tests and the demo expect it: installs Debian's `postgresql` when it is missing,
# creates the `15/main` cluster when it does not exist, sets trust for loopback and local
# sockets, starts it, and creates the `antidote` database. Idempotent; needs root.
set -euo pipefail

version=15
cluster=main
conf="/etc/postgresql/$version/$cluster"

if [ ! -x "/usr/lib/postgresql/$version/bin/postgres" ]; then
    echo "installing PostgreSQL $version from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$version" postgresql-contrib >/dev/null
fi

if [ ! -f "$conf/postgresql.conf" ]; then
    pg_createcluster "$version" "$cluster" -- --auth=trust
fi

# Trust on loopback and the local socket: this server exists only for tests and the demo
# on this machine and listens on 127.0.0.1 only.
hba="$conf/pg_hba.conf"
if ! grep -q '^# antidote-scheduler: trust$' "$hba"; then
    cat >"$hba" <<'HBA'
# antidote-scheduler: trust
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
host    all             all             ::1/128                 trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
HBA
fi
mkdir -p "$conf/conf.d"
cat >"$conf/conf.d/antidote.conf" <<'CONF'
listen_addresses = '127.0.0.1'
port = 5432
CONF

if pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c { print $4 }' | grep -q online; then
    pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" reload
else
    pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start
fi
for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
pg_isready -h 127.0.0.1 -p 5432

if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname = 'antidote'" | grep -q 1; then
    psql -h 127.0.0.1 -U postgres -c 'create database antidote' >/dev/null
fi
