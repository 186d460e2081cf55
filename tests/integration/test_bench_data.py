"""The benchmark's data builders (tests/benchmarks/data.py) at any size: the interference
section's backlog template must hold exactly its backlog, also when the source template
already has more expired reservations (`--sizes 10000000` alone: 500,000 expired, a backlog
of 100,000; the builder asked for a negative LIMIT and the run died after 19 minutes)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from benchmarks.data import Cluster, build_backlog_template, build_template, expired_count

N = 2_000  # 100 expired, 100 live reservations


@pytest.mark.parametrize("backlog", [40, 150], ids=["fewer than expired", "more than expired"])
def test_backlog_template_holds_exactly_its_backlog(server: Any, backlog: int) -> None:
    cluster = Cluster(server.admin_dsn)
    cluster.drop_leftovers()
    template = build_template(cluster, N)
    assert expired_count(N) == 100
    try:
        name = build_backlog_template(cluster, template, N, backlog)
        with psycopg.connect(cluster.dsn_for(name)) as conn:
            row = conn.execute(
                "SELECT expired_reservations FROM real_estate.release_backlog"
            ).fetchone()
            reserved = conn.execute(
                "SELECT count(*) FROM real_estate.property WHERE status = 'RESERVED'"
            ).fetchone()
        assert row == (backlog,)
        assert reserved == (200,)  # only expiries moved
    finally:
        cluster.drop_leftovers()


def test_leftovers_go_but_the_templates_a_run_goes_on_using(server: Any) -> None:
    """The grid drops an interrupted run's databases before each point, and must keep the
    templates it built for its later points (it dropped them: the 1GB points then failed
    with 'template database ... does not exist')."""
    cluster = Cluster(server.admin_dsn)
    cluster.drop_leftovers()
    template = build_template(cluster, N)
    leftover = cluster.create(f"{template}_copy", template)
    try:
        cluster.drop_leftovers(keep=[template])
        with psycopg.connect(server.admin_dsn) as conn:
            names = {
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'pyrelease_bench%'"
                )
            }
        assert names == {template}, leftover
    finally:
        cluster.drop_leftovers()
