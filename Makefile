# pyrelease developer tasks. `make help` lists them.
#
# setup  what this machine lacks (scripts/setup.sh; Citus, pg_cron 1.6 from ../shared), .venv
# db     the local PostgreSQL with pg_cron (shared_buffers 1GB); `scripts/pgcluster.sh dsn`
# demo   db + a runtime-only .venv-demo: migrate, demo data, the story, `pyrelease status`
# stop   stop the local PostgreSQL
# test   setup, then pytest (PYTEST_ARGS=...) on the libpq env's server, else throwaway ones
# soak   8 pgbench clients x 60 s with pg_cron every minute, then check_invariants()
# lint   ruff, mypy --strict, plpgsql_check (db cluster), python -m build + twine check
# schema rewrite schema.sql and the install marker migrations/install.<digest>.py
# format ruff check --fix + ruff format
# bench  the benchmark (BENCH_ARGS=...), then a release within seconds on pg_cron 1.6
# bench-grid the release from 500k to 10M under two settings each (GRID_ARGS=--plan: plan)
# profile where a release's cost goes: WAL by record type, statements, CPU (PROFILE_ARGS=...)
# clean  stop and delete the local clusters, .venv, caches and bench results
# (details: docs/development.md#make-targets)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PG_BINDIR ?= /usr/lib/postgresql/15/bin
DEMO_VENV ?= .venv-demo
PGCLUSTER := bash scripts/pgcluster.sh
DSN = "$$($(PGCLUSTER) dsn)"
export PG_BINDIR

.PHONY: help setup system db demo stop test soak lint schema format bench bench-grid profile clean
help:
	@sed -n '3,/^$$/{/^#/p}' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}/  /'
setup: system $(VENV)/.stamp-pyproject
system:
	@bash scripts/setup.sh
# a virtualenv, re-installed whenever pyproject.toml changes (the demo's: runtime only)
%/.stamp-pyproject: pyproject.toml
	@if [ ! -x $*/bin/python ]; then echo "+ $(PYTHON) -m venv $*"; $(PYTHON) -m venv $*; fi
	$*/bin/python -m pip install --disable-pip-version-check -q -e '.$(if $(filter $(VENV),$*),[dev])'
	@touch $@
db:
	@bash scripts/setup.sh packages
	@$(PGCLUSTER) start
	@echo PostgreSQL: $(DSN)
demo: $(DEMO_VENV)/.stamp-pyproject db
	@$(PGCLUSTER) createdb pyrelease_demo; dsn="$$($(PGCLUSTER) dsn pyrelease_demo)"; set -x; \
	$(DEMO_VENV)/bin/pyrelease --dsn "$$dsn" migrate; \
	$(DEMO_VENV)/bin/python scripts/demo_data.py "$$dsn"; \
	$(DEMO_VENV)/bin/python scripts/demo.py "$$dsn"; \
	$(DEMO_VENV)/bin/pyrelease --dsn "$$dsn" status; \
	{ set +x; } 2>/dev/null; echo; echo "demo database: $$dsn  (make stop to stop the server)"
stop:
	@$(PGCLUSTER) stop
test: setup
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS) tests
soak: setup db
	$(VENV)/bin/python -m tests.soak.run --dsn $(DSN) --clients 8 --seconds 60
lint: $(VENV)/.stamp-pyproject db
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict pyrelease
	$(VENV)/bin/python -m tests.plpgsql_lint $(DSN)
	d="$$(mktemp -d)"; $(VENV)/bin/python -m build -q --no-isolation -o "$$d" . >/dev/null \
	  && $(VENV)/bin/twine check --strict "$$d"/*; s=$$?; rm -rf "$$d"; exit $$s
schema: setup db
	$(VENV)/bin/python -m tests.schema_dump $(DSN)
format: $(VENV)/.stamp-pyproject
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .
bench: setup db
	$(VENV)/bin/python -m tests.benchmarks $(BENCH_ARGS)
	$(VENV)/bin/python -m tests.benchmarks.seconds $(SECONDS_ARGS)
bench-grid: setup
	@bash scripts/setup.sh packages
	$(VENV)/bin/python -m tests.benchmarks.grid $(GRID_ARGS)
# the db cluster with pg_stat_statements and the WAL of a release kept for pg_waldump
profile: setup
	@bash scripts/setup.sh packages
	@$(PGCLUSTER) start --set shared_preload_libraries=pg_cron,pg_stat_statements \
	  --set pg_stat_statements.track=all --set wal_keep_size=16GB
	$(VENV)/bin/python -m tests.benchmarks.profile $(PROFILE_ARGS)
clean:
	-@$(PGCLUSTER) destroy
	-@PGRELEASE_PGDATA="$${PYRELEASE_GRID_PGDATA:-.pgdata-grid}" $(PGCLUSTER) destroy
	rm -rf $(VENV) $(DEMO_VENV) bench-results .pytest_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
