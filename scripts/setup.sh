#!/usr/bin/env bash
# What `make setup` installs on the machine, each step only when it is missing:
#   packages  Debian's postgresql-15, postgresql-15-cron (pg_cron 1.4), postgresql-client-15
#             (isolationtester), postgresql-15-plpgsql-check, pgbouncer,
#             prometheus-postgres-exporter and prometheus (promtool)
#   locale    de_DE.UTF-8 (the tests prove the counter guard under a translated lc_messages)
#   citus     Citus 13.2 into the system PostgreSQL 15, from $PYRELEASE_SHARED/citus
#   pg_cron16 pg_cron 1.6 in a copy of PostgreSQL 15 ($PG_CRON16_PREFIX, default
#             /opt/pg15-cron16), from $PYRELEASE_SHARED/pg_cron
# Usage: scripts/setup.sh [STEP...]   (default: every step; `make db` runs `packages` only)
# PYRELEASE_SHARED: default ../shared beside this checkout (or beside the main checkout of a
# git worktree); without it the Citus and pg_cron 1.6 tests skip.
# SKIP_SYSTEM_DEPS=1 skips everything. Installing a postgresql-15-* package can upgrade the
# server: `scripts/pgcluster.sh start` then restarts a cluster running the old binaries.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -z "${SKIP_SYSTEM_DEPS:-}" ] || exit 0
PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
SHARED="$(realpath -m "${PYRELEASE_SHARED:-../shared}")"
if [ -z "${PYRELEASE_SHARED:-}" ] && [ ! -d "$SHARED" ]; then # a git worktree: beside the main one
    SHARED="$(realpath -m "$(git rev-parse --git-common-dir 2>/dev/null || echo .)/../../shared")"
fi
PG_CRON16_PREFIX="${PG_CRON16_PREFIX:-/opt/pg15-cron16}"
PACKAGES="postgresql-15 postgresql-15-cron postgresql-client-15 postgresql-15-plpgsql-check"
# the real components the tests run against: a pooler, the Prometheus exporter and promtool
TOOLS="pgbouncer prometheus-postgres-exporter prometheus"
export DEBIAN_FRONTEND=noninteractive

as_root() { # run as root, or say what to run as root and fail
    if [ "$(id -u)" = 0 ]; then "$@" </dev/null
    elif sudo -n true 2>/dev/null; then sudo -n env DEBIAN_FRONTEND=noninteractive "$@" </dev/null
    else echo "setup: as root, run: $*" >&2 && return 1; fi
}
pkglib() { "$PG_BINDIR/pg_config" --pkglibdir 2>/dev/null || echo "$PG_BINDIR/../lib"; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

packages() {
    local missing="" p
    for p in $TOOLS; do installed "$p" || missing="$missing $p"; done
    if ! { [ -x "$PG_BINDIR/postgres" ] && [ -f "$(pkglib)/pg_cron.so" ] &&
        [ -f "$(pkglib)/plpgsql_check.so" ] &&
        [ -x "$(pkglib)/pgxs/src/test/isolation/isolationtester" ]; }; then
        for p in $PACKAGES; do installed "$p" || missing="$missing $p"; done
        [ -n "$missing" ] || { echo "setup: $PACKAGES are installed but $PG_BINDIR lacks a part of them (set PG_BINDIR)" >&2 && return 1; }
    fi
    [ -n "$missing" ] || return 0
    echo "+ apt-get install$missing"
    as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends $missing
    # the tests start their own on free ports: not the services apt started
    as_root systemctl disable --now $TOOLS >/dev/null 2>&1 || true
}

locale() {
    command locale -a 2>/dev/null | grep -qix 'de_DE\.utf-\?8' && return 0
    [ -f /usr/share/i18n/locales/de_DE ] ||
        { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends locales; }
    echo "+ localedef -i de_DE -f UTF-8 de_DE.UTF-8"
    as_root localedef -i de_DE -f UTF-8 de_DE.UTF-8
}

build() { # NAME SCRIPT ARGS...: one build at a time on this machine (checkouts share it)
    local name="$1" script="$2"
    shift 2
    if [ ! -f "$script" ]; then
        echo "setup: $name is not installed and $(dirname "$script") is absent (PYRELEASE_SHARED): its tests will skip" >&2
        return 0
    fi
    as_root flock /tmp/.pyrelease-setup.lock bash "$script" "$@" ||
        echo "setup: $name was not built: its tests will skip" >&2
}

citus() {
    [ -f "$(pkglib)/citus.so" ] && return 0
    [ ! -f "$SHARED/citus/build.sh" ] || echo "+ bash $SHARED/citus/build.sh (a few minutes)"
    build Citus "$SHARED/citus/build.sh"
}

pg_cron16() { # its build.sh returns at once when the copy is current, and prints its bin dir
    if [ -f "$PG_CRON16_PREFIX/.stamp" ] && { [ "$(id -u)" != 0 ] || [ ! -f "$SHARED/pg_cron/build.sh" ]; }; then
        return 0
    fi
    local bindir
    bindir="$(build "pg_cron 1.6" "$SHARED/pg_cron/build.sh" "$PG_CRON16_PREFIX")"
    [ -z "$bindir" ] || echo "setup: pg_cron 1.6 in $bindir"
}

steps=("$@")
[ $# -gt 0 ] || steps=(packages locale citus pg_cron16)
for s in "${steps[@]}"; do
    case "$s" in
    packages | locale | citus | pg_cron16) "$s" ;;
    *) echo "setup: unknown step $s (packages, locale, citus, pg_cron16)" >&2 && exit 2 ;;
    esac
done
