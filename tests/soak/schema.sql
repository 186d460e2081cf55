-- Bench-only objects of the soak test (tests/soak/run.py creates them in the soak database;
-- never part of pyrelease). Each pgbench script calls one soak.* wrapper: the wrapper does
-- what an application or a release caller does, turns the package's documented refusals
-- (RE001..RE004) into a status instead of an error (pgbench would abort the client), records
-- the outcome, and records any OTHER error (deadlock, lock timeout, bug) in soak.error
-- instead of aborting, so that the driver can report it.

CREATE SCHEMA soak;

-- n -> property id, so that pgbench can pick properties with random(1, N).
CREATE TABLE soak.prop (
    n integer PRIMARY KEY,
    id uuid NOT NULL UNIQUE
);
CREATE SEQUENCE soak.prop_n;

CREATE UNLOGGED TABLE soak.outcome (
    kind text NOT NULL,
    status text NOT NULL,
    n integer,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE UNLOGGED TABLE soak.error (
    kind text NOT NULL,
    sqlstate text NOT NULL,
    message text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION soak.unexpected(p_kind text, p_sqlstate text, p_message text)
RETURNS text
LANGUAGE sql
AS $$
    INSERT INTO soak.error (kind, sqlstate, message) VALUES (p_kind, p_sqlstate, p_message);
    SELECT 'error ' || p_sqlstate;
$$;

CREATE FUNCTION soak.log(p_kind text, p_status text, p_n integer DEFAULT NULL)
RETURNS text
LANGUAGE sql
AS $$
    INSERT INTO soak.outcome (kind, status, n) VALUES (p_kind, p_status, p_n);
    SELECT p_status;
$$;

CREATE FUNCTION soak.id_of(p_n integer)
RETURNS uuid
LANGUAGE sql
STABLE
AS $$ SELECT id FROM soak.prop WHERE n = p_n $$;

-- Seed: p_workspaces workspaces (the last two INACTIVE and SUSPENDED) x p_projects projects
-- x p_properties properties; about 70% AVAILABLE, 10% SOLD, 10% RESERVED and expired (up
-- to 10 minutes ago), 10% RESERVED for 2..60 more seconds.
CREATE FUNCTION soak.seed(p_workspaces integer, p_projects integer, p_properties integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_count integer;
BEGIN
    INSERT INTO real_estate.workspace (name, activation_status)
    SELECT format('soak ws %s', w),
           CASE WHEN p_workspaces >= 4 AND w = p_workspaces - 1 THEN 'INACTIVE'
                WHEN p_workspaces >= 4 AND w = p_workspaces THEN 'SUSPENDED'
                ELSE 'ACTIVE' END
      FROM generate_series(1, p_workspaces) AS w;

    INSERT INTO real_estate.project (workspace_id, name, total_plots)
    SELECT w.id, format('%s / project %s', w.name, j), p_properties
      FROM real_estate.workspace AS w, generate_series(1, p_projects) AS j;

    WITH r AS (
        SELECT pr.id AS project_id, pr.workspace_id, g, random() AS x, random() AS y
          FROM real_estate.project AS pr, generate_series(1, p_properties) AS g
    )
    INSERT INTO real_estate.property (workspace_id, project_id, name, status, reserved_by_id, reserved_until)
    SELECT r.workspace_id, r.project_id, format('plot %s', r.g),
           CASE WHEN r.x < 0.7 THEN 'AVAILABLE' WHEN r.x < 0.8 THEN 'SOLD' ELSE 'RESERVED' END,
           CASE WHEN r.x >= 0.8 THEN gen_random_uuid() END,
           CASE WHEN r.x >= 0.9 THEN now() + make_interval(secs => 2 + 58 * r.y)
                WHEN r.x >= 0.8 THEN now() - make_interval(secs => 1 + 599 * r.y) END
      FROM r;

    INSERT INTO soak.prop (n, id)
    SELECT nextval('soak.prop_n'), p.id FROM real_estate.property AS p ORDER BY random();
    SELECT count(*) INTO v_count FROM soak.prop;
    RETURN v_count;
END;
$$;

-- reserve: real_estate.reserve_property for p_ttl_s seconds (takes over an expired one).
CREATE FUNCTION soak.reserve(p_n integer, p_ttl_s integer)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_id uuid := soak.id_of(p_n);
    v_status text;
BEGIN
    IF v_id IS NULL THEN
        RETURN soak.log('reserve', 'no such n');
    END IF;
    BEGIN
        PERFORM real_estate.reserve_property(v_id, gen_random_uuid(), make_interval(secs => p_ttl_s));
        v_status := 'reserved';
    EXCEPTION
        WHEN SQLSTATE 'RE001' THEN v_status := 'RE001 deleted';
        WHEN SQLSTATE 'RE002' THEN v_status := 'RE002 sold';
        WHEN SQLSTATE 'RE003' THEN v_status := 'RE003 held';
        WHEN SQLSTATE 'RE004' THEN v_status := 'RE004 workspace not active';
        WHEN OTHERS THEN v_status := soak.unexpected('reserve', SQLSTATE, SQLERRM);
    END;
    RETURN soak.log('reserve', v_status);
END;
$$;

-- sell: the documented conditional UPDATE (only an unexpired reservation can be sold).
CREATE FUNCTION soak.sell(p_n integer)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_id uuid := soak.id_of(p_n);
    v_rows integer;
    v_status text;
BEGIN
    BEGIN
        UPDATE real_estate.property
           SET status = 'SOLD', reserved_by_id = NULL, reserved_until = NULL
         WHERE id = v_id AND status = 'RESERVED' AND reserved_until > now();
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_status := CASE v_rows WHEN 1 THEN 'sold' ELSE 'not reserved' END;
    EXCEPTION WHEN OTHERS THEN
        v_status := soak.unexpected('sell', SQLSTATE, SQLERRM);
    END;
    RETURN soak.log('sell', v_status);
END;
$$;

-- cancel: the holder gives an unexpired reservation up (direct UPDATE).
CREATE FUNCTION soak.cancel(p_n integer)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_id uuid := soak.id_of(p_n);
    v_rows integer;
    v_status text;
BEGIN
    BEGIN
        UPDATE real_estate.property
           SET status = 'AVAILABLE', reserved_by_id = NULL, reserved_until = NULL
         WHERE id = v_id AND status = 'RESERVED' AND reserved_until > now();
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_status := CASE v_rows WHEN 1 THEN 'cancelled' ELSE 'not reserved' END;
    EXCEPTION WHEN OTHERS THEN
        v_status := soak.unexpected('cancel', SQLSTATE, SQLERRM);
    END;
    RETURN soak.log('cancel', v_status);
END;
$$;

-- move: the application moves a property (whatever its status) to another project of
-- the same workspace.
CREATE FUNCTION soak.move(p_n integer)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_id uuid := soak.id_of(p_n);
    v_rows integer;
    v_status text;
BEGIN
    BEGIN
        UPDATE real_estate.property AS p
           SET project_id = (SELECT pr.id
                               FROM real_estate.project AS pr
                              WHERE pr.workspace_id = p.workspace_id
                                AND pr.id IS DISTINCT FROM p.project_id
                              ORDER BY random()
                              LIMIT 1)
         WHERE p.id = v_id;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_status := CASE v_rows WHEN 1 THEN 'moved' ELSE 'no such property' END;
    EXCEPTION WHEN OTHERS THEN
        v_status := soak.unexpected('move', SQLSTATE, SQLERRM);
    END;
    RETURN soak.log('move', v_status);
END;
$$;

-- relist: a SOLD property is put on the market again (direct UPDATE).
CREATE FUNCTION soak.relist(p_n integer)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_id uuid := soak.id_of(p_n);
    v_rows integer;
    v_status text;
BEGIN
    BEGIN
        UPDATE real_estate.property SET status = 'AVAILABLE' WHERE id = v_id AND status = 'SOLD';
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_status := CASE v_rows WHEN 1 THEN 'relisted' ELSE 'not sold' END;
    EXCEPTION WHEN OTHERS THEN
        v_status := soak.unexpected('relist', SQLSTATE, SQLERRM);
    END;
    RETURN soak.log('relist', v_status);
END;
$$;

-- bulk_relist: every SOLD property of one random project back on the market (one
-- multi-row statement).
CREATE FUNCTION soak.bulk_relist()
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_rows integer;
    v_status text;
BEGIN
    BEGIN
        UPDATE real_estate.property
           SET status = 'AVAILABLE'
         WHERE status = 'SOLD'
           AND project_id = (SELECT id FROM real_estate.project ORDER BY random() LIMIT 1);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_status := 'relisted';
    EXCEPTION WHEN OTHERS THEN
        v_status := soak.unexpected('bulk_relist', SQLSTATE, SQLERRM);
    END;
    RETURN soak.log('bulk_relist', v_status, v_rows);
END;
$$;

-- insert: a new property in a random project, AVAILABLE or (p_ttl_s not NULL) inserted
-- directly as RESERVED for p_ttl_s seconds (negative: already expired, as an import does).
CREATE FUNCTION soak.insert_property(p_ttl_s integer)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_status text;
BEGIN
    BEGIN
        INSERT INTO real_estate.property (id, workspace_id, project_id, name, status, reserved_by_id, reserved_until)
        SELECT v_id, pr.workspace_id, pr.id, 'soak insert',
               CASE WHEN p_ttl_s IS NULL THEN 'AVAILABLE' ELSE 'RESERVED' END,
               CASE WHEN p_ttl_s IS NOT NULL THEN gen_random_uuid() END,
               now() + make_interval(secs => p_ttl_s)
          FROM (SELECT id, workspace_id FROM real_estate.project ORDER BY random() LIMIT 1) AS pr;
        INSERT INTO soak.prop (n, id) VALUES (nextval('soak.prop_n'), v_id);
        v_status := CASE WHEN p_ttl_s IS NULL THEN 'inserted available' ELSE 'inserted reserved' END;
    EXCEPTION WHEN OTHERS THEN
        v_status := soak.unexpected('insert', SQLSTATE, SQLERRM);
    END;
    RETURN soak.log('insert', v_status);
END;
$$;

-- delete: the application deletes a property, whatever its status.
CREATE FUNCTION soak.delete_property(p_n integer)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_id uuid := soak.id_of(p_n);
    v_rows integer;
    v_status text;
BEGIN
    BEGIN
        DELETE FROM real_estate.property WHERE id = v_id;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        DELETE FROM soak.prop WHERE n = p_n;
        v_status := CASE v_rows WHEN 1 THEN 'deleted' ELSE 'no such property' END;
    EXCEPTION WHEN OTHERS THEN
        v_status := soak.unexpected('delete', SQLSTATE, SQLERRM);
    END;
    RETURN soak.log('delete', v_status);
END;
$$;

-- The release callers below pause during the last soak.caller_pause seconds of every minute
-- (a setting the driver gives the pgbench sessions; 0 or unset: never), so that the
-- scheduled run (pg_cron, every minute at :00) finds a backlog and races with them for it
-- as they resume. Reservations still expire (and reserve_property still takes them over)
-- meanwhile.
CREATE FUNCTION soak.callers_paused()
RETURNS boolean
LANGUAGE sql
VOLATILE
AS $$
    SELECT extract(second FROM clock_timestamp())
           >= 60 - coalesce(nullif(current_setting('soak.caller_pause', true), ''), '0')::integer
$$;

-- release_expired: SELECT real_estate.release_expired_reservations(p_batch_size).
CREATE FUNCTION soak.release_expired(p_batch_size integer)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_released integer;
    v_status text;
BEGIN
    IF soak.callers_paused() THEN
        RETURN soak.log('release_expired', 'paused');
    END IF;
    BEGIN
        v_released := real_estate.release_expired_reservations(p_batch_size);
        v_status := CASE WHEN v_released > 0 THEN 'released some' ELSE 'nothing to release' END;
    EXCEPTION WHEN OTHERS THEN
        v_status := soak.unexpected('release_expired', SQLSTATE, SQLERRM);
    END;
    RETURN soak.log('release_expired', v_status, v_released);
END;
$$;

-- release_one: SELECT real_estate.release_reservation(id), on property n or (p_n NULL) on
-- one of the 5 oldest expired reservations of ACTIVE workspaces (where the scheduled run
-- and the batch calls race for the same rows).
CREATE FUNCTION soak.release_one(p_n integer)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_id uuid;
    v_done boolean;
    v_status text;
BEGIN
    IF soak.callers_paused() THEN
        RETURN soak.log(CASE WHEN p_n IS NULL THEN 'release_oldest' ELSE 'release_one' END, 'paused');
    END IF;
    IF p_n IS NULL THEN
        SELECT p.id INTO v_id
          FROM real_estate.property AS p
          JOIN real_estate.workspace AS w ON w.id = p.workspace_id
         WHERE p.status = 'RESERVED' AND p.reserved_until <= now() AND w.activation_status = 'ACTIVE'
         ORDER BY p.reserved_until
         LIMIT 1 OFFSET floor(random() * 5)::integer;
    ELSE
        v_id := soak.id_of(p_n);
    END IF;
    IF v_id IS NULL THEN
        RETURN soak.log(CASE WHEN p_n IS NULL THEN 'release_oldest' ELSE 'release_one' END, 'nothing picked');
    END IF;
    BEGIN
        v_done := real_estate.release_reservation(v_id);
        v_status := CASE WHEN v_done THEN 'released' ELSE 'not released' END;
    EXCEPTION WHEN OTHERS THEN
        v_status := soak.unexpected('release_one', SQLSTATE, SQLERRM);
    END;
    RETURN soak.log(CASE WHEN p_n IS NULL THEN 'release_oldest' ELSE 'release_one' END, v_status);
END;
$$;
