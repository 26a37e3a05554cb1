#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for tests and benchmarks, on a loopback port,
# run by the `postgres` user (or the current user when not root).
#
#   scripts/pg-cluster.sh start DIR PORT   # prints the database URL on stdout
#   scripts/pg-cluster.sh stop DIR
#
# Installs PostgreSQL from the distribution's packages when initdb is missing
# and we are root (or have sudo). Exits 3 with a reason when it cannot run.
set -euo pipefail

bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    return 1
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi
}

ensure_installed() {
    bindir >/dev/null && return 0
    echo "installing PostgreSQL from the distribution's packages" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null 2>&1 \
        || { echo "cannot install PostgreSQL (no root and no sudo): skipping PostgreSQL" >&2; exit 3; }
    bindir >/dev/null || { echo "PostgreSQL installed but initdb not found" >&2; exit 3; }
}

# Runs a command as the cluster's owner.
owner_run() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    dir=${2:?data folder}; port=${3:?port}
    ensure_installed
    bin=$(bindir)
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    chmod 700 "$dir"
    owner_run "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || owner_run "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    # Settings live in the cluster's own file, so a plain `pg_ctl start` (tests stop and restart it) keeps them.
    owner_run tee -a "$dir/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
CONF
    owner_run "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    owner_run "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE ROLE lucid LOGIN PASSWORD 'lucid' CREATEDB;
CREATE DATABASE lucid_test OWNER lucid;
SQL
    echo "postgres://lucid:lucid@127.0.0.1:$port/lucid_test"
    ;;
stop)
    dir=${2:?data folder}
    bin=$(bindir) || exit 0
    [ -d "$dir/data" ] && owner_run "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
