#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need when it is
# missing (Debian packages, Python test tools from PyPI), starts a throw-away
# PostgreSQL cluster, builds, and runs
#   1. Swift unit, store (SQLite and PostgreSQL) and HTTP tests (swift test),
#   2. end-to-end tests against the real `lucid` binary (pytest), on SQLite and PostgreSQL.
# Without root or sudo to install PostgreSQL, its tests are skipped with the reason printed.
# Usage: scripts/test.sh            (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

apt_updated=no
need_deb() {  # need_deb COMMAND-OR-FILE PACKAGE...
    local probe=$1; shift
    if command -v "$probe" >/dev/null 2>&1 || [ -e "$probe" ]; then return 0; fi
    say "installing $* (needed for the tests)"
    if [ $apt_updated = no ]; then as_root apt-get update -qq || true; apt_updated=yes; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
        || { echo "could not install $*; install it and run again" >&2; exit 1; }
}

say "checking tools"
command -v swift >/dev/null || { echo "the Swift 6 toolchain is required (swift.org)" >&2; exit 1; }
need_deb python3 python3 python3-pip
need_deb /usr/include/sqlite3.h libsqlite3-dev
if ! python3 -c 'import pytest, requests' >/dev/null 2>&1; then
    say "installing Python test tools from PyPI"
    python3 -m pip install -q -r tests/e2e/requirements.txt \
        || python3 -m pip install -q --break-system-packages -r tests/e2e/requirements.txt
fi

# A private PostgreSQL cluster on a free loopback port, stopped whatever happens.
pg_dir=$(mktemp -d /tmp/lucid-pg-XXXXXX)
stop_postgres() { scripts/pg-cluster.sh stop "$pg_dir" || true; }
trap stop_postgres EXIT
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "starting a throw-away PostgreSQL cluster on 127.0.0.1:$pg_port"
if pg_url=$(scripts/pg-cluster.sh start "$pg_dir" "$pg_port"); then
    export LUCID_TEST_POSTGRES_URL="$pg_url" LUCID_TEST_POSTGRES_DIR="$pg_dir"
    echo "PostgreSQL tests will run against $pg_url"
else
    unset LUCID_TEST_POSTGRES_URL LUCID_TEST_POSTGRES_DIR
    echo "NOTE: PostgreSQL tests are SKIPPED: the cluster could not be started (see the reason above)."
fi

# Warnings are errors for our own targets in CI (see Package.swift).
export LUCID_WARNINGS_AS_ERRORS=${LUCID_WARNINGS_AS_ERRORS:-1}

say "building (debug) with tests"
mkdir -p .build
if ! swift build --build-tests > .build/test-build.log 2>&1; then
    grep -E 'error|warning' .build/test-build.log | head -100
    tail -20 .build/test-build.log
    echo "build failed (full log: .build/test-build.log)" >&2
    exit 1
fi

say "Swift tests (core, store on SQLite${LUCID_TEST_POSTGRES_URL:+ and PostgreSQL}, HTTP)"
swift test --skip-build

say "end-to-end tests against the real binary"
LUCID_BIN="$PWD/.build/debug/lucid" python3 -m pytest tests/e2e -q -p no:cacheprovider -rs \
    -W error::pytest.PytestUnhandledThreadExceptionWarning

say "all tests passed"
