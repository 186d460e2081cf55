#!/usr/bin/env bash
# Throwaway / demo PostgreSQL 15 cluster with pg_cron, for development and tests.
#
# Usage: scripts/pgcluster.sh COMMAND [OPTIONS]
#
#   start [--cron-db NAME] [--throwaway]
#           initdb if missing, (re)write config, start the server (pg_ctl -w),
#           create database NAME if missing and CREATE EXTENSION pg_cron in it,
#           and check that the pg_cron launcher runs. Idempotent: a running
#           server is left alone unless its settings changed or the PostgreSQL
#           / pg_cron binaries were upgraded since it started (then restart).
#           Options not given keep the values stored by an earlier start
#           (defaults: --cron-db postgres, fsync on).
#           --throwaway: fsync=off, synchronous_commit=off, full_page_writes=off
#           (test clusters only; never use it for the demo cluster).
#           --background-workers: cron.use_background_workers = on (pg_cron runs jobs
#           in background workers, not over libpq; max_worker_processes = 32).
#   stop    pg_ctl stop -m fast (no-op when not running)
#   restart stop + start
#   status  print data dir, port, DSN and whether the server runs (exit 3 if not)
#   dsn     print postgresql://postgres@localhost:PORT/postgres
#   psql [ARGS...]   run psql as superuser against the cluster (db postgres)
#   createdb NAME    create database NAME if missing
#   destroy stop and delete the data directory
#   datadir print the data directory that would be used
#
# Environment:
#   PGRELEASE_PGDATA  data directory (default: ./.pgdata in the repo when the
#                     `postgres` OS user can enter the repo, else
#                     /tmp/pyrelease-<hash of repo path>/pgdata)
#   PG_BINDIR         PostgreSQL binaries (default: /usr/lib/postgresql/15/bin)
#   PGRELEASE_SHARED_BUFFERS
#                     shared_buffers of a cluster that is not --throwaway (default 1GB;
#                     throwaway test clusters keep PostgreSQL's 128MB)
#
# When run as root, initdb/pg_ctl run as the `postgres` OS user (PostgreSQL
# refuses to run as root); everything else (psql, this script) stays in the
# calling process. When not root, the server runs as the current user.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd -P)"
PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
SUPERUSER=postgres
STATE_FILE_NAME=pyrelease-cluster.env
CONF_FILE_NAME=pyrelease.conf
STAMP_FILE_NAME=pyrelease-binaries.stamp
LOG_FILE_NAME=postgresql.log

die() {
    echo "pgcluster: error: $*" >&2
    exit 1
}
info() { echo "pgcluster: $*" >&2; }

hash_of() { printf '%s' "$1" | sha1sum | cut -c1-12; }

# ---------------------------------------------------------------- identity
if [ "$(id -u)" = 0 ]; then
    AS_ROOT=1
    SERVER_USER=postgres
    getent passwd "$SERVER_USER" >/dev/null ||
        die "running as root but OS user '$SERVER_USER' does not exist (install postgresql-15: make setup)"
else
    AS_ROOT=0
    SERVER_USER="$(id -un)"
fi

# Run a command as the server's OS user, from a directory it can enter.
# fd 9 (our flock) is closed so that a started postmaster does not keep the lock.
as_server() {
    if [ "$AS_ROOT" = 1 ]; then
        (cd / && runuser -u "$SERVER_USER" -- "$@") 9>&-
    else
        "$@" 9>&-
    fi
}

server_can_enter() { # DIR: can the server user reach DIR (x on every ancestor)?
    # `test -x DIR` fails as soon as any ancestor lacks search permission, so one
    # check on the deepest directory covers every parent.
    as_server test -x "$1"
}

# ---------------------------------------------------------------- data dir
resolve_pgdata() {
    if [ -n "${PGRELEASE_PGDATA:-}" ]; then
        case "$PGRELEASE_PGDATA" in
        /*) PGDATA="$PGRELEASE_PGDATA" ;;
        *) PGDATA="$PWD/$PGRELEASE_PGDATA" ;;
        esac
        PGDATA="${PGDATA%/}"
        DATA_PARENT="$(dirname "$PGDATA")"
        return
    fi
    if [ "$AS_ROOT" = 0 ] || server_can_enter "$REPO_ROOT"; then
        PGDATA="$REPO_ROOT/.pgdata"
        DATA_PARENT="$REPO_ROOT"
    else
        DATA_PARENT="/tmp/pyrelease-$(hash_of "$REPO_ROOT")"
        PGDATA="$DATA_PARENT/pgdata"
    fi
}

prepare_pgdata_dir() {
    if [ ! -d "$DATA_PARENT" ]; then
        mkdir -p "$DATA_PARENT"
        if [ "$DATA_PARENT" = "/tmp/pyrelease-$(hash_of "$REPO_ROOT")" ]; then
            chmod 0755 "$DATA_PARENT"
            [ "$AS_ROOT" = 1 ] && chown "$SERVER_USER": "$DATA_PARENT"
        fi
    fi
    if [ "$DATA_PARENT" = "/tmp/pyrelease-$(hash_of "$REPO_ROOT")" ]; then
        local owner
        owner="$(stat -c %U "$DATA_PARENT")"
        [ "$owner" = "$SERVER_USER" ] || [ "$owner" = "$(id -un)" ] ||
            die "$DATA_PARENT exists but belongs to '$owner'; remove it or set PGRELEASE_PGDATA"
    fi
    if [ ! -d "$PGDATA" ]; then
        mkdir -p "$PGDATA"
        chmod 0700 "$PGDATA"
        [ "$AS_ROOT" = 1 ] && chown "$SERVER_USER": "$PGDATA"
    fi
    server_can_enter "$PGDATA" ||
        die "OS user '$SERVER_USER' cannot enter $PGDATA (a parent directory is not world-enterable); set PGRELEASE_PGDATA to a directory under /tmp"
}

socket_dir() {
    # The data dir's parent when it is a folder of its own that the server user
    # may write to (and the socket path stays short), else /tmp.
    if [ "$DATA_PARENT" != "$REPO_ROOT" ] && [ ${#DATA_PARENT} -lt 80 ] &&
        as_server test -w "$DATA_PARENT" 2>/dev/null; then
        echo "$DATA_PARENT"
    else
        echo /tmp
    fi
}

# ---------------------------------------------------------------- state
load_state() {
    PORT=""
    CRON_DB=""
    THROWAWAY=""
    BGW=""
    if [ -f "$PGDATA/$STATE_FILE_NAME" ]; then
        # shellcheck disable=SC1090
        . "$PGDATA/$STATE_FILE_NAME"
    fi
}

save_state() {
    local tmp="$PGDATA/$STATE_FILE_NAME.tmp"
    {
        echo "# written by scripts/pgcluster.sh"
        echo "PORT=$PORT"
        echo "CRON_DB=$CRON_DB"
        echo "THROWAWAY=$THROWAWAY"
        echo "BGW=$BGW"
    } >"$tmp"
    mv "$tmp" "$PGDATA/$STATE_FILE_NAME"
    [ "$AS_ROOT" = 1 ] && chown "$SERVER_USER": "$PGDATA/$STATE_FILE_NAME"
    return 0
}

port_free() { # PORT: nothing accepts TCP connections on localhost:PORT
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null &&
        ! { command -v ss >/dev/null && [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }
}

pick_port() {
    local p _
    for _ in $(seq 1 200); do
        p=$((20000 + (RANDOM % 12000)))
        if port_free "$p" && [ ! -e "/tmp/.s.PGSQL.$p" ]; then
            echo "$p"
            return 0
        fi
    done
    die "could not find a free TCP port"
}

binaries_stamp() {
    local pkglib cron_so
    pkglib="$("$PG_BINDIR/pg_config" --pkglibdir 2>/dev/null || echo "$PG_BINDIR/../lib")"
    cron_so="$pkglib/pg_cron.so"
    "$PG_BINDIR/postgres" --version
    stat -L -c '%n %i %Y %s' "$PG_BINDIR/postgres"
    if [ -e "$cron_so" ]; then stat -L -c '%n %i %Y %s' "$cron_so"; else echo "no pg_cron.so"; fi
}

write_config() {
    local conf="$PGDATA/$CONF_FILE_NAME" sockdir tmp
    sockdir="$(socket_dir)"
    tmp="$(mktemp)"
    {
        echo "# Generated by scripts/pgcluster.sh on every start; edits are overwritten."
        echo "port = $PORT"
        echo "listen_addresses = 'localhost'"
        echo "unix_socket_directories = '$sockdir'"
        echo "shared_preload_libraries = 'pg_cron'"
        echo "cron.database_name = '$CRON_DB'"
        echo "max_connections = 200"
        echo "logging_collector = off"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        if [ "${BGW:-0}" = 1 ]; then
            echo "cron.use_background_workers = on"
            echo "max_worker_processes = 32"
        fi
        if [ "$THROWAWAY" = 1 ]; then
            echo "# throwaway test cluster: durability off"
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        else
            echo "fsync = on"
            # The development cluster (benchmark, demo) holds the benchmark's 1M data set in
            # memory, as a server of that size would; PostgreSQL's default is 128MB.
            echo "shared_buffers = '${PGRELEASE_SHARED_BUFFERS:-1GB}'"
        fi
    } >"$tmp"
    cat "$tmp" >"$conf.new"
    rm -f "$tmp"
    if ! cmp -s "$conf.new" "$conf" 2>/dev/null; then
        mv "$conf.new" "$conf"
        CONFIG_CHANGED=1
    else
        rm -f "$conf.new"
    fi
    chmod 0600 "$conf"
    [ "$AS_ROOT" = 1 ] && chown "$SERVER_USER": "$conf"
    if ! grep -q "^include_if_exists = '$CONF_FILE_NAME'" "$PGDATA/postgresql.conf"; then
        printf "\n# pyrelease settings\ninclude_if_exists = '%s'\n" "$CONF_FILE_NAME" >>"$PGDATA/postgresql.conf"
        CONFIG_CHANGED=1
    fi
    # Throwaway cluster: trust everyone on loopback and the unix socket. pg_cron's
    # scheduler connects to localhost over libpq and needs this.
    local hba_new="$PGDATA/pg_hba.conf.new"
    cat >"$hba_new" <<'EOF'
# Generated by scripts/pgcluster.sh: throwaway cluster, trust on loopback only.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
host    all       all   ::1/128        trust
local   replication all                trust
host    replication all 127.0.0.1/32   trust
host    replication all ::1/128        trust
EOF
    if ! cmp -s "$hba_new" "$PGDATA/pg_hba.conf"; then
        mv "$hba_new" "$PGDATA/pg_hba.conf"
        CONFIG_CHANGED=1
    else
        rm -f "$hba_new"
    fi
    chmod 0600 "$PGDATA/pg_hba.conf"
    [ "$AS_ROOT" = 1 ] && chown "$SERVER_USER": "$PGDATA/pg_hba.conf"
    return 0
}

# ---------------------------------------------------------------- server
postmaster_pid() { # prints PID of a live postmaster for PGDATA, else fails
    local pidfile="$PGDATA/postmaster.pid" pid comm
    [ -f "$pidfile" ] || return 1
    pid="$(head -n1 "$pidfile" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -d "/proc/$pid" ] || return 1
    live_postgres_pid "$pid" || return 1
    echo "$pid"
}

live_postgres_pid() { # PID: a running (not zombie) postgres process?
    local comm state
    comm="$(cat "/proc/$1/comm" 2>/dev/null || true)"
    state="$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
    case "$comm" in
    postgres | postmaster) [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] ;;
    *) return 1 ;;
    esac
}

is_running() { postmaster_pid >/dev/null; }

remove_stale_locks() {
    # A postmaster.pid / socket lock left by a killed server can name a PID that
    # another process reuses (common in containers): postgres then refuses to start.
    if [ -f "$PGDATA/postmaster.pid" ] && ! is_running; then
        info "removing stale $PGDATA/postmaster.pid"
        rm -f "$PGDATA/postmaster.pid"
    fi
    local lock pid
    lock="$(socket_dir)/.s.PGSQL.$PORT.lock"
    if [ -f "$lock" ]; then
        pid="$(head -n1 "$lock" 2>/dev/null || true)"
        if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! live_postgres_pid "$pid"; then
            info "removing stale socket lock $lock"
            rm -f "$lock" "$(socket_dir)/.s.PGSQL.$PORT"
        fi
    fi
}

pg_ctl_cmd() {
    as_server "$PG_BINDIR/pg_ctl" -D "$PGDATA" -l "$PGDATA/$LOG_FILE_NAME" "$@"
}

show_log_tail() {
    if [ -f "$PGDATA/$LOG_FILE_NAME" ]; then
        echo "---- last lines of $PGDATA/$LOG_FILE_NAME ----" >&2
        tail -n 30 "$PGDATA/$LOG_FILE_NAME" >&2 || true
    fi
}

psql_cmd() { # DB ARGS...
    local db="$1"
    shift
    PGCONNECT_TIMEOUT=10 "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
        "host=localhost port=$PORT user=$SUPERUSER dbname=$db" "$@"
}

do_initdb() {
    local locale_opt=(--no-locale)
    if locale -a 2>/dev/null | grep -qix 'c.utf-\?8'; then
        locale_opt=(--locale=C.UTF-8)
    fi
    local sync_opt=()
    [ "$THROWAWAY" = 1 ] && sync_opt=(--no-sync)
    info "initdb $PGDATA"
    if ! as_server "$PG_BINDIR/initdb" -D "$PGDATA" --username="$SUPERUSER" --encoding=UTF8 \
        "${locale_opt[@]}" --auth=trust "${sync_opt[@]}" >"/tmp/pyrelease-initdb-$$.log" 2>&1; then
        cat "/tmp/pyrelease-initdb-$$.log" >&2
        rm -f "/tmp/pyrelease-initdb-$$.log"
        die "initdb failed"
    fi
    rm -f "/tmp/pyrelease-initdb-$$.log"
}

start_server() {
    local attempt
    for attempt in 1 2 3; do
        remove_stale_locks
        if pg_ctl_cmd -w -t 90 start >/dev/null; then
            binaries_stamp >"$PGDATA/$STAMP_FILE_NAME"
            return 0
        fi
        if grep -qE 'could not bind|Address already in use|lock file .* already exists' \
            "$PGDATA/$LOG_FILE_NAME" 2>/dev/null && [ "$attempt" -lt 3 ]; then
            # Someone took our port meanwhile: pick another one.
            : >"$PGDATA/$LOG_FILE_NAME"
            PORT="$(pick_port)"
            info "port busy, retrying on port $PORT"
            save_state
            write_config
            continue
        fi
        show_log_tail
        die "pg_ctl start failed"
    done
}

restart_server() {
    info "restarting server ($1)"
    pg_ctl_cmd -w -t 90 -m fast stop >/dev/null || true
    start_server
}

cron_launcher_running() {
    [ "$(psql_cmd postgres -tAc \
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'" 2>/dev/null)" \
        -ge 1 ] 2>/dev/null
}

wait_cron_launcher() { # SECONDS
    local deadline=$((SECONDS + $1))
    while [ "$SECONDS" -lt "$deadline" ]; do
        cron_launcher_running && return 0
        sleep 0.2
    done
    cron_launcher_running
}

valid_ident() { [[ "$1" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; }

db_exists() {
    [ "$(psql_cmd postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]
}

ensure_db() { # NAME (a plain identifier): create it if missing; succeeds only if created
    valid_ident "$1" || die "not a plain identifier: $1"
    if ! db_exists "$1"; then
        psql_cmd postgres -c "CREATE DATABASE \"$1\"" >/dev/null ||
            die "could not create database $1"
        return 0
    fi
    return 1
}

cmd_start() {
    local opt_cron_db="" opt_throwaway="" opt_bgw=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --cron-db)
            [ $# -ge 2 ] || die "--cron-db needs a value"
            opt_cron_db="$2"
            shift 2
            ;;
        --cron-db=*)
            opt_cron_db="${1#--cron-db=}"
            shift
            ;;
        --throwaway)
            opt_throwaway=1
            shift
            ;;
        --durable)
            opt_throwaway=0
            shift
            ;;
        --background-workers)
            opt_bgw=1
            shift
            ;;
        *) die "start: unknown option $1" ;;
        esac
    done
    [ -x "$PG_BINDIR/postgres" ] ||
        die "no PostgreSQL server in $PG_BINDIR (run: make setup, or apt-get install postgresql-15 postgresql-15-cron)"
    [ -z "$opt_cron_db" ] || valid_ident "$opt_cron_db" ||
        die "--cron-db: not a plain identifier: $opt_cron_db"

    prepare_pgdata_dir
    acquire_lock

    load_state
    [ -n "$opt_cron_db" ] && CRON_DB="$opt_cron_db"
    [ -n "$opt_throwaway" ] && THROWAWAY="$opt_throwaway"
    [ -n "$opt_bgw" ] && BGW="$opt_bgw"
    BGW="${BGW:-0}"
    CRON_DB="${CRON_DB:-postgres}"
    THROWAWAY="${THROWAWAY:-0}"

    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        if [ -n "$(ls -A "$PGDATA")" ]; then
            die "$PGDATA is not empty but holds no cluster; remove it (scripts/pgcluster.sh destroy)"
        fi
        do_initdb
    fi
    local want_version have_version
    want_version="$("$PG_BINDIR/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')"
    have_version="$(cat "$PGDATA/PG_VERSION")"
    [ "$want_version" = "$have_version" ] ||
        die "$PGDATA holds a PostgreSQL $have_version cluster but $PG_BINDIR is version $want_version (scripts/pgcluster.sh destroy)"

    if [ -z "$PORT" ] || { ! is_running && ! port_free "$PORT"; }; then
        PORT="$(pick_port)"
    fi
    save_state
    CONFIG_CHANGED=0
    write_config

    if is_running; then
        if [ "$CONFIG_CHANGED" = 1 ]; then
            restart_server "configuration changed"
        elif [ "$(binaries_stamp)" != "$(cat "$PGDATA/$STAMP_FILE_NAME" 2>/dev/null || true)" ]; then
            restart_server "PostgreSQL or pg_cron binaries changed since it started"
        fi
    else
        info "starting server on port $PORT (data: $PGDATA)"
        start_server
    fi

    # The cron database must exist for pg_cron's launcher; it only checks for it
    # when it starts, so restart after creating it.
    local created=0
    if [ "$CRON_DB" != postgres ]; then
        ensure_db "$CRON_DB" && created=1
    fi
    psql_cmd "$CRON_DB" -c 'SET client_min_messages = warning' \
        -c 'CREATE EXTENSION IF NOT EXISTS pg_cron' >/dev/null
    if [ "$created" = 1 ] && ! wait_cron_launcher 3; then
        restart_server "cron database $CRON_DB was just created"
    fi
    if ! wait_cron_launcher 15; then
        restart_server "pg_cron launcher not running"
        wait_cron_launcher 15 || {
            show_log_tail
            die "pg_cron launcher is not running"
        }
    fi
    release_lock
    return 0
}

cmd_stop() {
    if [ -f "$PGDATA/PG_VERSION" ] && is_running; then
        acquire_lock
        pg_ctl_cmd -w -t 90 -m fast stop >/dev/null
        release_lock
        info "stopped ($PGDATA)"
    else
        info "not running ($PGDATA)"
    fi
}

require_cluster() {
    [ -f "$PGDATA/$STATE_FILE_NAME" ] ||
        die "no cluster in $PGDATA yet: run scripts/pgcluster.sh start (or make db)"
    load_state
}

dsn() { echo "postgresql://$SUPERUSER@localhost:$PORT/${1:-postgres}"; }

cmd_status() {
    echo "datadir: $PGDATA"
    if [ ! -f "$PGDATA/$STATE_FILE_NAME" ]; then
        echo "state:   not initialised"
        return 3
    fi
    load_state
    echo "port:    $PORT"
    echo "cron db: $CRON_DB"
    echo "fsync:   $([ "$THROWAWAY" = 1 ] && echo off || echo on)"
    echo "dsn:     $(dsn)"
    echo "log:     $PGDATA/$LOG_FILE_NAME"
    if is_running; then
        echo "state:   running (pid $(postmaster_pid))"
    else
        echo "state:   stopped"
        return 3
    fi
}

LOCK_FD_OPEN=0
acquire_lock() {
    command -v flock >/dev/null || return 0
    [ "$LOCK_FD_OPEN" = 1 ] && return 0
    local lock
    lock="/tmp/.pyrelease-pgcluster-$(hash_of "$PGDATA").lock"
    exec 9>>"$lock"
    flock -w 300 9 || die "timed out waiting for lock $lock"
    LOCK_FD_OPEN=1
}
release_lock() {
    if [ "$LOCK_FD_OPEN" = 1 ]; then
        exec 9>&-
        LOCK_FD_OPEN=0
    fi
}

# ---------------------------------------------------------------- main
main() {
    [ $# -ge 1 ] || {
        sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 2
    }
    local cmd="$1"
    shift
    resolve_pgdata
    case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    restart)
        cmd_stop
        cmd_start "$@"
        ;;
    status) cmd_status ;;
    dsn)
        require_cluster
        dsn "${1:-postgres}"
        ;;
    psql)
        require_cluster
        psql_cmd postgres "$@"
        ;;
    createdb)
        [ $# -eq 1 ] || die "usage: createdb NAME"
        require_cluster
        if ensure_db "$1"; then info "created database $1"; fi
        ;;
    destroy)
        cmd_stop
        if [ -d "$PGDATA" ]; then
            rm -rf "$PGDATA"
            info "removed $PGDATA"
        fi
        if [ "$DATA_PARENT" = "/tmp/pyrelease-$(hash_of "$REPO_ROOT")" ]; then
            rmdir "$DATA_PARENT" 2>/dev/null || true
        fi
        rm -f "/tmp/.pyrelease-pgcluster-$(hash_of "$PGDATA").lock"
        ;;
    datadir) echo "$PGDATA" ;;
    -h | --help | help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command: $cmd (try --help)" ;;
    esac
}

main "$@"
