# pyrelease developer tasks. `make help` lists them.
#
# setup  Debian packages postgresql-15, postgresql-15-cron, postgresql-client-15,
#        postgresql-15-plpgsql-check (when missing: the server, pg_cron, isolationtester,
#        plpgsql_check), the de_DE.UTF-8 locale (tests run with a German lc_messages,
#        tests/matrix among them) and .venv
# db     start the local PostgreSQL (./.pgdata, or /tmp/pyrelease-<hash>/pgdata when the
#        postgres OS user cannot enter this folder) with pg_cron and shared_buffers = 1GB
#        (PGRELEASE_SHARED_BUFFERS=...); `scripts/pgcluster.sh dsn`
# demo   db + a runtime-only .venv-demo, then migrate, load demo data and tell the story
#        (counters before/after, the SUSPENDED workspace, a 3 s reservation expiring under
#        `pyrelease watch`) in pyrelease_demo
# stop   stop the local PostgreSQL
# test   setup, then the test suite (it starts and removes its own throwaway cluster)
# soak   8 pgbench clients x 60 s with pg_cron every minute, then check_invariants()
# lint   ruff check + ruff format --check + mypy --strict pyrelease/, plpgsql_check over every
#        routine (on the db cluster)
# schema rewrite schema.sql, the committed snapshot of the installed schema
# bench  the benchmark against the `make db` cluster (BENCH_ARGS=... passes options)
# clean  stop and delete the local cluster, .venv, caches and bench results

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PG_BINDIR ?= /usr/lib/postgresql/15/bin
APT_PACKAGES ?= postgresql-15 postgresql-15-cron postgresql-client-15 postgresql-15-plpgsql-check prometheus-postgres-exporter prometheus
ISOLATIONTESTER ?= /usr/lib/postgresql/15/lib/pgxs/src/test/isolation/isolationtester
PYTEST_ARGS ?=
BENCH_ARGS ?=
DEMO_DB ?= pyrelease_demo
DEMO_VENV ?= .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.stamp-pyproject

PGCLUSTER := bash scripts/pgcluster.sh
VENV_STAMP := $(VENV)/.stamp-pyproject
export PG_BINDIR

.PHONY: help setup system-deps locales db demo stop test soak lint schema format bench clean

help:
	@sed -n '3,/^$$/{/^#/p}' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}/  /'

setup: system-deps locales $(VENV_STAMP)

# PostgreSQL 15 + pg_cron + the client tools (isolationtester) from Debian, only when
# one of them is missing; then only the packages dpkg does not list as installed, so that an installed
# postgresql-15 is not upgraded needlessly. (Installing postgresql-15-cron can still
# upgrade it: `scripts/pgcluster.sh start` then restarts a server that runs old binaries.)
# SKIP_SYSTEM_DEPS=1 skips all of this.
system-deps:
	@if [ -n "$${SKIP_SYSTEM_DEPS:-}" ]; then exit 0; fi; \
	pkglib="$$($(PG_BINDIR)/pg_config --pkglibdir 2>/dev/null || echo $(PG_BINDIR)/../lib)"; \
	if [ -x "$(PG_BINDIR)/postgres" ] && [ -f "$$pkglib/pg_cron.so" ] \
		&& [ -f "$$pkglib/plpgsql_check.so" ] && [ -x "$(ISOLATIONTESTER)" ]; then exit 0; fi; \
	missing=""; \
	for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "make: $(APT_PACKAGES) are installed but $(PG_BINDIR)/postgres or pg_cron.so is missing" >&2; \
		echo "      (set PG_BINDIR, or SKIP_SYSTEM_DEPS=1)" >&2; exit 1; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "make: missing Debian packages:$$missing; as root run:" >&2; \
	     echo "  apt-get update && apt-get install -y$$missing" >&2; exit 1; fi; \
	echo "+ apt-get update && apt-get install -y$$missing"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$$missing </dev/null

# The de_DE.UTF-8 locale, built when missing (Debian ships it as a source only): the tests
# prove the counter guard under a translated lc_messages. Needs the `locales` package (its
# sources in /usr/share/i18n), installed when missing. SKIP_SYSTEM_DEPS=1 skips this too.
LOCALE_DE ?= de_DE.UTF-8
locales:
	@if [ -n "$${SKIP_SYSTEM_DEPS:-}" ]; then exit 0; fi; \
	if locale -a 2>/dev/null | grep -qix 'de_DE\.utf-\{0,1\}8'; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "make: locale $(LOCALE_DE) is missing; as root run:" >&2; \
	     echo "  localedef -i de_DE -f UTF-8 $(LOCALE_DE)" >&2; exit 1; fi; \
	if [ ! -f /usr/share/i18n/locales/de_DE ]; then \
		echo "+ apt-get install -y locales"; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			locales </dev/null; fi; \
	echo "+ localedef -i de_DE -f UTF-8 $(LOCALE_DE)"; \
	$$sudo localedef -i de_DE -f UTF-8 $(LOCALE_DE)

# The virtualenv, re-installed whenever pyproject.toml changes.
$(VENV_STAMP): pyproject.toml
	@if [ ! -x $(VENV)/bin/python ]; then echo "+ $(PYTHON) -m venv $(VENV)"; $(PYTHON) -m venv $(VENV); fi
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	@touch $@

db: system-deps
	@$(PGCLUSTER) start
	@echo "PostgreSQL: $$($(PGCLUSTER) dsn)"

# The demo runs in its own virtualenv with only the runtime dependencies (no pytest, ruff,
# matplotlib): what a user installs.
$(DEMO_STAMP): pyproject.toml
	@if [ ! -x $(DEMO_VENV)/bin/python ]; then echo "+ $(PYTHON) -m venv $(DEMO_VENV)"; $(PYTHON) -m venv $(DEMO_VENV); fi
	$(DEMO_VENV)/bin/python -m pip install --disable-pip-version-check -q -e .
	@touch $@

demo: system-deps $(DEMO_STAMP) db
	@admin="$$($(PGCLUSTER) dsn)"; \
	dsn="$${admin%/postgres}/$(DEMO_DB)"; \
	$(PGCLUSTER) createdb $(DEMO_DB); \
	echo "+ pyrelease migrate"; \
	$(DEMO_VENV)/bin/pyrelease --dsn "$$dsn" migrate; \
	echo "+ scripts/demo_data.py"; \
	$(DEMO_VENV)/bin/python scripts/demo_data.py "$$dsn"; \
	echo "+ scripts/demo.py"; \
	$(DEMO_VENV)/bin/python scripts/demo.py "$$dsn"; \
	echo "+ pyrelease status"; \
	$(DEMO_VENV)/bin/pyrelease --dsn "$$dsn" status; \
	echo; echo "demo database: $$dsn  (make stop to stop the server)"

stop:
	@$(PGCLUSTER) stop

test: setup
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS) tests

# 8 pgbench clients for 60 s against the `make db` cluster, pg_cron running the job every
# minute, then real_estate.check_invariants() must find nothing (report: bench-results/soak.md).
soak: setup db
	$(VENV)/bin/python -m tests.soak.run --dsn "$$($(PGCLUSTER) dsn)" --clients 8 --seconds 60

lint: $(VENV_STAMP) db
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict pyrelease
	$(VENV)/bin/python -m tests.plpgsql_lint "$$($(PGCLUSTER) dsn)"

# Rewrite schema.sql (the committed snapshot of what the migrations + plpgsql/ install) from a
# freshly migrated database; tests/integration/test_schema.py fails until it is committed.
schema: setup db
	$(VENV)/bin/python -m tests.schema_dump "$$($(PGCLUSTER) dsn)"

format: $(VENV_STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup db
	$(VENV)/bin/python -m tests.benchmarks $(BENCH_ARGS)

clean:
	-@$(PGCLUSTER) destroy
	rm -rf $(VENV) $(DEMO_VENV) bench-results .pytest_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
