#!/usr/bin/env bash
# A local PostgreSQL 15 cluster with pg_cron: the `make db` cluster (demo, soak, lint, schema,
# bench) and the tests' throwaway ones (tests/pgserver.py).
#
# Usage: scripts/pgcluster.sh COMMAND
#   start [--throwaway] [--cron-db NAME] [--set NAME=VALUE]...
#                 initdb when needed, write the settings, start the server (restart it when its
#                 settings or the PostgreSQL / pg_cron binaries changed since it started), create
#                 the cron database with pg_cron in it and wait for pg_cron's launcher.
#                 --throwaway: fsync, synchronous_commit and full_page_writes off and
#                 PostgreSQL's 128MB shared_buffers (test clusters only); otherwise
#                 shared_buffers = $PGRELEASE_SHARED_BUFFERS (default 1GB).
#                 --set: any other server setting. Options apply to this start only.
#   stop          stop the server (fast), if it runs
#   dsn [DB]      print postgresql://postgres@localhost:PORT/DB (default: postgres)
#   createdb NAME create database NAME if missing
#   destroy       stop the server and delete its data directory
#
# Environment: PGRELEASE_PGDATA (default ./.pgdata, or /tmp/pyrelease-<hash>/pgdata when the
# postgres OS user cannot enter this checkout), PG_BINDIR (default /usr/lib/postgresql/15/bin).
# As root, initdb and the server run as the postgres OS user (PostgreSQL refuses root).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
TMP_PARENT="/tmp/pyrelease-$(printf '%s' "$REPO_ROOT" | sha1sum | cut -c1-12)"
CONF=pyrelease.conf
LOG=postgresql.log

die() { echo "pgcluster: error: $*" >&2 && exit 1; }
info() { echo "pgcluster: $*" >&2; }

if [ "$(id -u)" = 0 ]; then
    SERVER_USER=postgres
    getent passwd postgres >/dev/null || die "no OS user postgres (install postgresql-15: make setup)"
    # fd 9 (our lock) closed, so that a postmaster started here does not hold it
    as_server() { (cd / && runuser -u postgres -- "$@") 9>&-; }
else
    SERVER_USER="$(id -un)"
    as_server() { "$@" 9>&-; }
fi
own() { [ "$SERVER_USER" = "$(id -un)" ] || chown "$SERVER_USER": "$@"; }

if [ -n "${PGRELEASE_PGDATA:-}" ]; then
    PGDATA="$(realpath -m "$PGRELEASE_PGDATA")"
elif as_server test -x "$REPO_ROOT"; then
    PGDATA="$REPO_ROOT/.pgdata"
else # CI's clone may sit in a folder the server's OS user cannot enter
    PGDATA="$TMP_PARENT/pgdata"
fi

port() { sed -n "s/^port = //p" "$PGDATA/$CONF" 2>/dev/null || true; }

running() { # a live (not zombie) postmaster owns the data directory
    local pid
    pid="$(head -n1 "$PGDATA/postmaster.pid" 2>/dev/null)" && [[ "$pid" =~ ^[0-9]+$ ]] &&
        [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" =~ ^(postgres|postmaster)$ ]] &&
        ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$pid/status" 2>/dev/null
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && [ ! -e "/tmp/.s.PGSQL.$1.lock" ]
}

pick_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        port_free "$p" && echo "$p" && return 0
    done
    die "no free TCP port found"
}

binaries() { # what the server runs: a change (a package upgrade) calls for a restart
    local lib
    lib="$("$PG_BINDIR/pg_config" --pkglibdir 2>/dev/null || echo "$PG_BINDIR/../lib")"
    stat -L -c '%n %i %Y %s' "$PG_BINDIR/postgres" "$lib/pg_cron.so" 2>&1
}

psql_cmd() { # DB ARGS...
    local db="$1"
    shift
    PGCONNECT_TIMEOUT=10 "$PG_BINDIR/psql" -X -q -tA -v ON_ERROR_STOP=1 \
        "host=localhost port=$(port) user=postgres dbname=$db" "$@"
}

install_if_changed() { # NEW DEST: replace DEST by NEW when they differ (then CHANGED=1)
    if cmp -s "$1" "$2"; then rm -f "$1"; else mv "$1" "$2" && CHANGED=1; fi
    chmod 0600 "$2"
    own "$2"
}

write_config() { # PORT: the server's settings, regenerated on every start
    {
        echo "# written by scripts/pgcluster.sh on every start"
        echo "port = $1"
        echo "listen_addresses = 'localhost'"
        echo "unix_socket_directories = '/tmp'"
        echo "shared_preload_libraries = 'pg_cron'"
        echo "cron.database_name = '$CRON_DB'"
        echo "max_connections = 200"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        if [ "$THROWAWAY" = 1 ]; then
            printf '%s\n' "fsync = off" "synchronous_commit = off" "full_page_writes = off"
        else # the benchmark's 1M data set stays in memory, as on a server of that size
            echo "shared_buffers = '${PGRELEASE_SHARED_BUFFERS:-1GB}'"
        fi
        for s in "${SETTINGS[@]}"; do echo "${s%%=*} = '${s#*=}'"; done
    } >"$PGDATA/$CONF.new"
    install_if_changed "$PGDATA/$CONF.new" "$PGDATA/$CONF"
    # trust on loopback and the socket only; pg_cron's scheduler connects over libpq
    printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 trust" \
        "host all all ::1/128 trust" >"$PGDATA/pg_hba.conf.new"
    install_if_changed "$PGDATA/pg_hba.conf.new" "$PGDATA/pg_hba.conf"
}

start_server() { # on a port someone else took meanwhile, pick another
    for attempt in 1 2 3; do
        [ -e "$PGDATA/postmaster.pid" ] && ! running && rm -f "$PGDATA/postmaster.pid"
        if as_server "$PG_BINDIR/pg_ctl" -D "$PGDATA" -l "$PGDATA/$LOG" -w -t 90 start >/dev/null; then
            binaries >"$PGDATA/binaries.stamp"
            return 0
        fi
        if [ "$attempt" -lt 3 ] &&
            grep -qE 'could not bind|already in use|lock file .* already exists' "$PGDATA/$LOG"; then
            : >"$PGDATA/$LOG"
            write_config "$(pick_port)"
            continue
        fi
        tail -n 30 "$PGDATA/$LOG" >&2
        die "pg_ctl start failed (log: $PGDATA/$LOG)"
    done
}

stop_server() {
    if running; then as_server "$PG_BINDIR/pg_ctl" -D "$PGDATA" -w -t 90 -m fast stop >/dev/null; fi
}

restart_server() { info "restarting ($1)" && stop_server && start_server; }

cron_launcher_up() { # SECONDS
    local deadline=$((SECONDS + $1))
    until [ "$(psql_cmd postgres -c "SELECT count(*) FROM pg_stat_activity
                 WHERE backend_type = 'pg_cron launcher'" 2>/dev/null)" = 1 ]; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

createdb() { # NAME (a plain identifier), if missing
    [[ "$1" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "not a plain identifier: $1"
    [ "$(psql_cmd postgres -c "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ] ||
        psql_cmd postgres -c "CREATE DATABASE \"$1\""
}

lock() { # one start or stop at a time per data directory
    exec 9>>"/tmp/.pyrelease-pgcluster-$(printf '%s' "$PGDATA" | sha1sum | cut -c1-12).lock"
    flock -w 300 9 || die "timed out waiting for another start or stop of $PGDATA"
}

cmd_start() {
    THROWAWAY=0 CRON_DB=postgres SETTINGS=()
    while [ $# -gt 0 ]; do
        case "$1" in
        --throwaway) THROWAWAY=1 && shift ;;
        --cron-db) CRON_DB="${2:?--cron-db needs a name}" && shift 2 ;;
        --set) [[ "${2:-}" == *=* ]] || die "--set needs NAME=VALUE" && SETTINGS+=("$2") && shift 2 ;;
        *) die "start: unknown option $1" ;;
        esac
    done
    [[ "$CRON_DB" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "--cron-db: not a plain identifier"
    [ -x "$PG_BINDIR/postgres" ] || die "no PostgreSQL server in $PG_BINDIR (make setup)"
    if [ ! -d "$PGDATA" ]; then
        [ "$PGDATA" != "$TMP_PARENT/pgdata" ] || { mkdir -p -m 0755 "$TMP_PARENT" && own "$TMP_PARENT"; }
        mkdir -p -m 0700 "$PGDATA" && own "$PGDATA"
    fi
    as_server test -x "$PGDATA" ||
        die "OS user $SERVER_USER cannot enter $PGDATA; set PGRELEASE_PGDATA to a folder under /tmp"
    lock
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        [ -z "$(ls -A "$PGDATA")" ] || die "$PGDATA holds no cluster but is not empty"
        local out locale=--no-locale
        if locale -a 2>/dev/null | grep -qix 'c.utf-\?8'; then locale=--locale=C.UTF-8; fi
        out="$(as_server "$PG_BINDIR/initdb" -D "$PGDATA" -U postgres -E UTF8 "$locale" -A trust \
            $([ "$THROWAWAY" = 1 ] && echo --no-sync) 2>&1)" || die "initdb failed: $out"
        printf "\ninclude_if_exists = '%s'\n" "$CONF" >>"$PGDATA/postgresql.conf"
    fi
    local version
    version="$("$PG_BINDIR/postgres" --version | sed -E 's/.* ([0-9]+)[.0-9]*.*/\1/')"
    [ "$(cat "$PGDATA/PG_VERSION")" = "$version" ] ||
        die "$PGDATA is a PostgreSQL $(cat "$PGDATA/PG_VERSION") cluster, $PG_BINDIR is $version"
    local p
    p="$(port)"
    if [ -z "$p" ] || { ! running && ! port_free "$p"; }; then p="$(pick_port)"; fi
    CHANGED=0
    write_config "$p"
    if ! running; then
        info "starting on port $(port) (data: $PGDATA)"
        start_server
    elif [ "$CHANGED" = 1 ]; then
        restart_server "its settings changed"
    elif [ "$(binaries)" != "$(cat "$PGDATA/binaries.stamp" 2>/dev/null)" ]; then
        restart_server "the PostgreSQL or pg_cron binaries changed since it started"
    fi
    [ "$CRON_DB" = postgres ] || createdb "$CRON_DB"
    psql_cmd "$CRON_DB" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS pg_cron'
    # the launcher looks for its database when it starts: one restart if it gave up
    cron_launcher_up 15 || { restart_server "pg_cron's launcher is not running" && cron_launcher_up 15; } ||
        { tail -n 30 "$PGDATA/$LOG" >&2 && die "pg_cron's launcher is not running"; }
}

command="${1:-help}"
shift || true
case "$command" in
start) cmd_start "$@" ;;
stop) [ ! -f "$PGDATA/PG_VERSION" ] || { lock && stop_server; } ;;
dsn | createdb)
    [ -n "$(port)" ] || die "no cluster in $PGDATA yet: run make db"
    if [ "$command" = dsn ]; then echo "postgresql://postgres@localhost:$(port)/${1:-postgres}"; else createdb "${1:?createdb NAME}"; fi
    ;;
destroy)
    [ ! -f "$PGDATA/PG_VERSION" ] || { lock && stop_server; }
    rm -rf "$PGDATA"
    [ "$PGDATA" != "$TMP_PARENT/pgdata" ] || rmdir "$TMP_PARENT" 2>/dev/null || true
    ;;
*) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' && [ "$command" = help ] ;;
esac
