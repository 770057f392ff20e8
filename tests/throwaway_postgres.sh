#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on a free loopback port for the test suite and print
# the environment the tests read:
#
#     eval "$(tests/throwaway_postgres.sh start)"   # exports TROIKA_TEST_POSTGRES_URL, ...
#     make test                                      # the [postgresql] cases now run
#     tests/throwaway_postgres.sh stop "$TROIKA_TEST_POSTGRES_DIR"
#
# Needs Debian's `postgresql` package (initdb, pg_ctl). PostgreSQL refuses to run as root,
# so as root the cluster belongs to the `postgres` user and runs through runuser.
set -euo pipefail

bindir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$found" ] && command -v initdb >/dev/null; then found=$(dirname "$(command -v initdb)"); fi
    [ -n "$found" ] || { echo "throwaway_postgres: no initdb found; install PostgreSQL (apt-get install postgresql)" >&2; exit 1; }
    echo "$found"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local bin dir port password
    bin=$(bindir)
    dir=$(mktemp -d /tmp/troika-pg.XXXXXX)
    port=$(free_port)
    password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
    [ "$(id -u)" = 0 ] && chown postgres: "$dir" && chmod 700 "$dir"
    printf '%s\n' "$password" > "$dir.pw"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir.pw"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 --pwfile="$dir.pw" -E UTF8 --locale=C.UTF-8 >"$dir.log" 2>&1 \
        || { cat "$dir.log" >&2; exit 1; }
    rm -f "$dir.pw"
    # Loopback only, socket in the cluster's own folder, fsync off: it is thrown away anyway.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >>"$dir.log" 2>&1 || { cat "$dir.log" "$dir/server.log" >&2; exit 1; }
    PGPASSWORD=$password "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE ROLE troika LOGIN PASSWORD '$password'" -c "CREATE DATABASE troika_test OWNER troika" >/dev/null
    echo "export TROIKA_TEST_POSTGRES_URL='postgresql+psycopg://troika:$password@127.0.0.1:$port/troika_test'"
    echo "export TROIKA_TEST_POSTGRES_DIR='$dir'"
    # What a test runs to restart the server under a running app (pool recovery test).
    echo "export TROIKA_TEST_POSTGRES_RESTART='$(cd "$(dirname "$0")" && pwd)/$(basename "$0") restart $dir'"
}

restart() {
    as_owner "$(bindir)/pg_ctl" -D "$1/data" -l "$1/server.log" -w -m fast restart >/dev/null
}

stop() {
    as_owner "$(bindir)/pg_ctl" -D "$1/data" -w -m fast stop >/dev/null || true
    rm -rf "$1" "$1.log"
}

case "${1:-}" in
    start) start ;;
    restart) restart "${2:?cluster folder}" ;;
    stop) stop "${2:?cluster folder}" ;;
    *) echo "usage: $0 start | restart DIR | stop DIR" >&2; exit 2 ;;
esac
