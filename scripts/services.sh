#!/usr/bin/env bash
# Run a command against a throw-away PostgreSQL and Redis: the production profile's shared
# services, as `make pytest-postgres` (and so `make test` and CI) uses them.
#
# Usage: scripts/services.sh COMMAND [ARGS...]
#   e.g. scripts/services.sh .venv/bin/pytest tests/deploy
#
# 1. Installs Debian's `postgresql` and `redis-server` packages with apt-get when they are
#    missing (apt-get update only if the install fails), as root.
# 2. Starts a PostgreSQL cluster (initdb into a temporary directory under /tmp, run as the
#    `postgres` system user when we are root: PostgreSQL refuses to run as root) and a
#    redis-server, both on 127.0.0.1 on free ports, with random passwords. Nothing is
#    written to disk synchronously: the data is thrown away.
# 3. Runs COMMAND with DATABASE_URL (role `dmportal`, which may create databases, as
#    pytest-django's test database needs) and CACHE_URL pointing at them.
# 4. Stops both and deletes their data, also when COMMAND fails or is interrupted, and exits
#    with COMMAND's status.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    sed -n '2,6p' "${BASH_SOURCE[0]}" >&2
    exit 2
fi

say() { echo "[services] $*" >&2; }

postgres_bin() {
    # The newest installed major version (Debian puts each under /usr/lib/postgresql/<n>/bin).
    find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
        sort -V | tail -n 1
}

install_missing() {
    local missing=()
    [[ -n "$(postgres_bin)" ]] || missing+=(postgresql)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ "$(id -u)" != 0 ]]; then
        say "missing ${missing[*]}: run as root, or install them with apt-get"
        exit 1
    fi
    say "installing Debian's ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

random_hex() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# Runs a PostgreSQL program as the cluster's owner.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

install_missing
pg_bin="$(postgres_bin)"
workdir="$(mktemp -d /tmp/dmportal-services.XXXXXX)"
[[ "$(id -u)" == 0 ]] && chown postgres:postgres "$workdir"
pg_data="$workdir/postgresql"
pg_port="$(free_port)"
pg_password="$(random_hex)"
redis_port="$(free_port)"
redis_password="$(random_hex)"

stop_services() {
    if [[ -f "$pg_data/postmaster.pid" ]]; then
        as_owner "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [[ -f "$workdir/redis.pid" ]]; then
        local pid
        pid="$(cat "$workdir/redis.pid")"
        kill "$pid" 2>/dev/null || true
        # Until it has exited (or is a zombie): it still writes its log on the way out.
        for _ in $(seq 100); do
            [[ -r "/proc/$pid/stat" && "$(cut -d ' ' -f 3 "/proc/$pid/stat")" != Z ]] || break
            sleep 0.1
        done
    fi
    rm -rf "$workdir" 2>/dev/null || { sleep 1; rm -rf "$workdir" || true; }
}
trap stop_services EXIT
trap 'exit 130' INT TERM

fail_with_log() {
    say "$1; its log:"
    tail -n 20 "$2" >&2 || true
    exit 1
}

# -- PostgreSQL: password (scram) over TCP on 127.0.0.1, trust only on the private socket.
as_owner "$pg_bin/initdb" -D "$pg_data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --no-locale --no-sync >"$workdir/initdb.log" 2>&1 ||
    fail_with_log "initdb failed" "$workdir/initdb.log"
as_owner "$pg_bin/pg_ctl" -D "$pg_data" -l "$workdir/postgresql.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$workdir \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null ||
    fail_with_log "PostgreSQL did not start" "$workdir/postgresql.log"
as_owner "$pg_bin/psql" -h "$workdir" -p "$pg_port" -U postgres -d postgres -q \
    -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE ROLE dmportal LOGIN CREATEDB PASSWORD '$pg_password';
CREATE DATABASE dmportal OWNER dmportal;
SQL

# -- Redis: no persistence, a password, loopback only.
redis-server --bind 127.0.0.1 --port "$redis_port" --requirepass "$redis_password" \
    --save "" --appendonly no --dir "$workdir" --daemonize yes \
    --pidfile "$workdir/redis.pid" --logfile "$workdir/redis.log"
for _ in $(seq 100); do
    if REDISCLI_AUTH="$redis_password" redis-cli -h 127.0.0.1 -p "$redis_port" ping \
        2>/dev/null | grep -q PONG; then
        break
    fi
    sleep 0.1
done
REDISCLI_AUTH="$redis_password" redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null |
    grep -q PONG || fail_with_log "Redis did not start" "$workdir/redis.log"

say "PostgreSQL $(basename "$(dirname "$pg_bin")") on 127.0.0.1:$pg_port and" \
    "Redis $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p') on 127.0.0.1:$redis_port"
export DATABASE_URL="postgres://dmportal:$pg_password@127.0.0.1:$pg_port/dmportal"
export CACHE_URL="redis://:$redis_password@127.0.0.1:$redis_port/0"
status=0
"$@" || status=$?
exit "$status"
