"""The counter guard: it reads no message text, so a translated
lc_messages changes nothing; a write that changes a project's id cannot smuggle a counter in;
a host BEFORE UPDATE trigger on project cannot alter the counter while riding on the counter
trigger's own UPDATE; and announcing a counter write by hand (the setting the counter
trigger and repair_counters use) makes a direct write pass only for the table's owner."""

from __future__ import annotations

import subprocess
import uuid

import psycopg
import pytest
from factories import (
    Conn,
    assert_counters_exact,
    available_plots,
    make_project,
    make_properties,
    make_workspace,
    scalar,
)

GERMAN = "de_DE.UTF-8"


def german_available(conn: Conn) -> bool:
    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL lc_messages = '{GERMAN}'")
    except psycopg.Error:
        return False
    return True


def test_translated_lc_messages_keeps_counters_and_releases_working(conn: Conn) -> None:
    """Before: the guard matched the English 'PL/pgSQL function ...' of PG_CONTEXT, so in
    German every write that changed availability was refused (RE011), reserve_property
    failed and every release was recorded as failed."""
    if not german_available(conn):
        locales = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout
        pytest.fail(
            f"the server cannot use lc_messages = {GERMAN} (run `make setup`, which builds it"
            f" with localedef -i de_DE -f UTF-8 {GERMAN}); locale -a: {locales.split()}"
        )
    conn.execute(f"SET lc_messages = '{GERMAN}'")
    # The server really speaks German now.
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT 1/0")
    assert "Division durch Null" in str(info.value)

    ws = make_workspace(conn)
    project = make_project(conn, ws)
    ids = make_properties(conn, ws, project, 3)
    expired = make_properties(conn, ws, project, 4, status="RESERVED")
    assert available_plots(conn, project) == 3

    conn.execute("SELECT real_estate.reserve_property(%s, gen_random_uuid())", (ids[0],))
    assert available_plots(conn, project) == 2
    assert scalar(conn, "SELECT real_estate.release_expired_reservations()") == 4
    assert scalar(conn, "SELECT failed FROM real_estate.release_run ORDER BY id DESC LIMIT 1") == 0
    conn.execute("CALL real_estate.run_release_job()")
    conn.execute("DELETE FROM real_estate.property WHERE id = %s", (expired[0],))
    assert available_plots(conn, project) == 5
    with pytest.raises(psycopg.Error) as info:  # and the guard still refuses direct writes
        conn.execute("UPDATE real_estate.project SET available_plots = 42")
    assert info.value.sqlstate == "RE011"
    assert_counters_exact(conn)


def test_changing_a_project_id_cannot_carry_a_counter(conn: Conn) -> None:
    """Before: old and new rows were joined on id, so a changed id hid the counter change."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    with pytest.raises(psycopg.Error) as info:
        conn.execute(
            "UPDATE real_estate.project SET id = gen_random_uuid(), available_plots = 42"
            " WHERE id = %s",
            (project,),
        )
    assert info.value.sqlstate == "RE011"
    # a new id alone is fine (the project has no properties)
    new_id = uuid.uuid4()
    conn.execute("UPDATE real_estate.project SET id = %s WHERE id = %s", (new_id, project))
    assert available_plots(conn, new_id) == 0
    assert_counters_exact(conn)


@pytest.mark.parametrize("name", ["a_host_bump", "zz_host_bump"])  # before and after ours
def test_host_before_update_trigger_cannot_ride_on_the_counter_write(conn: Conn, name: str) -> None:
    """Before: the guard let the whole statement through when it came from the counter
    trigger, whatever a BEFORE UPDATE trigger of the host had done to NEW meanwhile."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    make_properties(conn, ws, project, 2)
    conn.execute(
        f"""
        CREATE FUNCTION public.{name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.available_plots := NEW.available_plots + 100;
            RETURN NEW;
        END $$;
        CREATE TRIGGER {name} BEFORE UPDATE ON real_estate.project
            FOR EACH ROW EXECUTE FUNCTION public.{name}();
        """
    )
    with pytest.raises(psycopg.Error) as info:
        make_properties(conn, ws, project, 1)
    assert info.value.sqlstate == "RE011"
    assert available_plots(conn, project) == 2
    # The release records such a row as failed instead of writing a wrong counter.
    conn.execute(f"ALTER TABLE real_estate.project DISABLE TRIGGER {name}")
    make_properties(conn, ws, project, 2, status="RESERVED")
    conn.execute(f"ALTER TABLE real_estate.project ENABLE TRIGGER {name}")
    assert scalar(conn, "SELECT real_estate.release_expired_reservations()") == 0
    assert scalar(conn, "SELECT failed FROM real_estate.release_run ORDER BY id DESC LIMIT 1") == 2
    assert_counters_exact(conn)


def test_announcing_a_counter_write_by_hand_passes_only_for_the_owner(conn: Conn) -> None:
    """The counter write is announced in a setting anyone can SET. repair_counters() and the
    counter trigger announce through the same helper, so the guard has one bypass: the
    announced delta, one trigger level below the announcement, as the table's owner. Forged
    by the owner at top level it lets the owner's matching write through (the owner is
    trusted: it could drop the trigger; before the repair used that announcement, the guard
    demanded depth >= 2 and refused it); at a wrong depth it is refused; and forged by any
    other role, at the top level or from a trigger, granted the column, it is refused."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    bump = "UPDATE real_estate.project SET available_plots = available_plots + 5 WHERE id = %s"
    for depth in (1, -1):
        conn.execute(
            "SELECT set_config('pyrelease.counter_write', %s, false)",
            (f"{depth}|,{project}:5,",),
        )
        with pytest.raises(psycopg.Error) as info:
            conn.execute(bump, (project,))
        assert info.value.sqlstate == "RE011"
    conn.execute("SELECT set_config('pyrelease.counter_write', %s, false)", (f"0|,{project}:4,",))
    with pytest.raises(psycopg.Error) as info:  # not the announced delta
        conn.execute(bump, (project,))
    assert info.value.sqlstate == "RE011"
    conn.execute("SELECT set_config('pyrelease.counter_write', %s, false)", (f"0|,{project}:5,",))
    conn.execute(bump, (project,))  # the owner (this connection) at top level: trusted
    assert available_plots(conn, project) == 5
    conn.execute("SELECT real_estate.repair_counters()")  # and repaired the same way
    assert available_plots(conn, project) == 0

    # Another role, granted the column: refused at top level and from its own trigger.
    conn.execute(
        """
        CREATE FUNCTION public.forge() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('pyrelease.counter_write',
                               pg_trigger_depth() || '|,' || NEW.project_id || ':7,', true);
            UPDATE real_estate.project SET available_plots = available_plots + 7
             WHERE id = NEW.project_id;
            RETURN NULL;
        END $$;
        CREATE TRIGGER forge AFTER INSERT ON real_estate.property
            FOR EACH ROW EXECUTE FUNCTION public.forge();
        GRANT USAGE ON SCHEMA public TO real_estate_app;
        GRANT EXECUTE ON FUNCTION public.forge() TO real_estate_app;
        GRANT UPDATE (available_plots) ON real_estate.project TO real_estate_app;
        SET ROLE real_estate_app;
        """
    )
    try:
        conn.execute(
            "SELECT set_config('pyrelease.counter_write', %s, false)", (f"0|,{project}:5,",)
        )
        with pytest.raises(psycopg.Error) as info:
            conn.execute(bump, (project,))
        assert info.value.sqlstate == "RE011"
        conn.execute("RESET pyrelease.counter_write")
        with pytest.raises(psycopg.Error) as info:
            make_properties(conn, ws, project, 1)
        assert info.value.sqlstate == "RE011"
    finally:
        conn.execute("RESET ROLE")
    assert available_plots(conn, project) == 0
    assert_counters_exact(conn)


def test_a_write_from_a_trigger_the_counter_write_fires_is_refused(conn: Conn) -> None:
    """A host AFTER UPDATE trigger on project, fired by the counter trigger's own UPDATE
    (while its announcement holds), that writes a counter itself: refused (one level too deep)."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    conn.execute(
        """
        CREATE FUNCTION public.echo() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF pg_trigger_depth() < 3 THEN
                UPDATE real_estate.project SET available_plots = available_plots + 1
                 WHERE id = NEW.id;
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER echo AFTER UPDATE ON real_estate.project
            FOR EACH ROW EXECUTE FUNCTION public.echo();
        """
    )
    with pytest.raises(psycopg.Error) as info:
        make_properties(conn, ws, project, 1)
    assert info.value.sqlstate == "RE011"
    assert available_plots(conn, project) == 0
    assert_counters_exact(conn)
