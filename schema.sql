--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: real_estate; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA real_estate;


--
-- Name: SCHEMA real_estate; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA real_estate IS 'pyrelease: properties, reservations and their release';


--
-- Name: apply_counter_deltas(uuid[], uuid[], integer[]); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.apply_counter_deltas(p_workspace_ids uuid[], p_project_ids uuid[], p_deltas integer[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET enable_seqscan TO 'off'
    SET enable_bitmapscan TO 'off'
    AS $$
BEGIN
    PERFORM 1
       FROM real_estate.project AS pr
      WHERE pr.workspace_id = ANY (p_workspace_ids)
        AND pr.id = ANY (p_project_ids)
      ORDER BY pr.id
        FOR NO KEY UPDATE;
    -- The announcement the guard (real_estate.project_guard_available_plots) checks: this
    -- call's trigger depth, then ',<project>:<delta>,' for each project.
    PERFORM set_config('pyrelease.counter_write',
        pg_trigger_depth()::text || '|,'
        || array_to_string(ARRAY(SELECT d.project_id::text || ':' || d.delta::text
                                   FROM unnest(p_project_ids, p_deltas) AS d(project_id, delta)), ',')
        || ',', true);
    UPDATE real_estate.project AS pr
       SET available_plots = pr.available_plots + d.delta
      FROM unnest(p_project_ids, p_deltas) AS d(project_id, delta)
     WHERE pr.workspace_id = ANY (p_workspace_ids)
       AND pr.id = d.project_id;
    PERFORM set_config('pyrelease.counter_write', '', true);
END;
$$;


--
-- Name: FUNCTION apply_counter_deltas(p_workspace_ids uuid[], p_project_ids uuid[], p_deltas integer[]); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.apply_counter_deltas(p_workspace_ids uuid[], p_project_ids uuid[], p_deltas integer[]) IS 'Adds p_deltas[i] to the available_plots of project p_project_ids[i] (of the workspaces p_workspace_ids, so that on Citus the write reaches only the co-located project shard): the one way a counter changes. It locks the projects'' rows in id order first (FOR NO KEY UPDATE, waiting), so concurrent writers touching the same projects in different orders cannot deadlock on the counters, then announces its deltas in the transaction-local setting pyrelease.counter_write (''<trigger depth>|,<project>:<delta>,...'') for the length of its one UPDATE, which the counter guard (project_guard_available_plots) lets through: exactly those deltas, one trigger level below the announcement, as the table''s owner. Called by the counter trigger (property_sync_available_plots) and by repair_counters; owner only (SECURITY DEFINER, not granted).';


--
-- Name: begin_release_run(text); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.begin_release_run(p_source text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_run_id bigint;
BEGIN
    INSERT INTO real_estate.release_run (source, started_at)
    VALUES (p_source, clock_timestamp())
    RETURNING id INTO v_run_id;
    RETURN v_run_id;
END;
$$;


--
-- Name: FUNCTION begin_release_run(p_source text); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.begin_release_run(p_source text) IS 'Opens a release run: inserts a row into real_estate.release_run with source p_source (''pg_cron'' for the scheduled run, ''call'' for everything else) and started_at = clock_timestamp(), and returns its id. The row stays unfinished (finished_at NULL) until record_release_run finishes it, so a run killed midway stays visible as such.';


--
-- Name: cancel_reservation(uuid, uuid); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.cancel_reservation(p_property_id uuid, p_reserved_by_id uuid) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN real_estate.end_reservation(NULL, p_property_id, real_estate.not_null(p_reserved_by_id, 'reserved_by id'));
END;
$$;


--
-- Name: FUNCTION cancel_reservation(p_property_id uuid, p_reserved_by_id uuid); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.cancel_reservation(p_property_id uuid, p_reserved_by_id uuid) IS 'The holder gives the property back, whether the reservation has expired or not, in any workspace (giving back is never refused). Returns true when it did, false when the property is unknown, not reserved, or reserved by another holder (RE010 when an argument is NULL). Logged like a release: one release_event with reason ''cancelled'' (the previous holder and expiry kept), in a release_run of its own (source ''call''), and notified at commit like every release event. The row is locked FOR UPDATE (waiting for a transaction that holds it) and the holder checked under the lock, so against a concurrent release, sale or second cancellation exactly one wins and the reservation is logged once. Idempotent: a second call returns false. On Citus the workspace is looked up on every shard, then the cancellation runs on its worker.';


--
-- Name: check_batch_size(integer); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.check_batch_size(p_batch_size integer) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF p_batch_size IS NULL OR p_batch_size < 1 THEN
        RAISE EXCEPTION 'batch size must be a positive integer, got %', coalesce(p_batch_size::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;
END;
$$;


--
-- Name: FUNCTION check_batch_size(p_batch_size integer); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.check_batch_size(p_batch_size integer) IS 'Raises RE010 (''batch size must be a positive integer, got ...'') unless p_batch_size is at least 1: the argument check of release_expired_reservations and run_release_job. Immutable, reads nothing.';


--
-- Name: check_invariants(); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.check_invariants() RETURNS TABLE(violation text, object_id text, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT 'counter_drift', pr.id::text,
           format('available_plots = %s, AVAILABLE properties = %s', pr.available_plots, coalesce(c.n, 0))
      FROM real_estate.project AS pr
      LEFT JOIN (SELECT p.project_id, count(*) AS n
                   FROM real_estate.property AS p
                  WHERE p.status = 'AVAILABLE' AND p.project_id IS NOT NULL
                  GROUP BY p.project_id) AS c ON c.project_id = pr.id
     WHERE pr.available_plots <> coalesce(c.n, 0)
    UNION ALL
    SELECT 'reservation_fields', p.id::text,
           format('status %s, reserved_by_id %s, reserved_until %s', p.status,
                  coalesce(p.reserved_by_id::text, 'NULL'), coalesce(p.reserved_until::text, 'NULL'))
      FROM real_estate.property AS p
     WHERE (p.status = 'RESERVED') IS DISTINCT FROM (p.reserved_by_id IS NOT NULL AND p.reserved_until IS NOT NULL)
        OR (p.status <> 'RESERVED' AND (p.reserved_by_id IS NOT NULL OR p.reserved_until IS NOT NULL))
    UNION ALL
    SELECT 'early_release', e.id::text,
           format('property %s reserved until %s released at %s', e.property_id, e.reserved_until, e.released_at)
      FROM real_estate.release_event AS e
     WHERE e.reserved_until > e.released_at AND e.reason = 'expired'
    UNION ALL
    SELECT 'double_release', min(e.id)::text,
           format('property %s (holder %s, until %s) released %s times', e.property_id, e.reserved_by_id, e.reserved_until, count(*))
      FROM real_estate.release_event AS e
     GROUP BY e.property_id, e.reserved_by_id, e.reserved_until
     -- Not when each event has its own run and all were written at one now(): within one
     -- transaction, the property was reserved again with the same expiry in between.
    HAVING count(*) > 1
       AND (count(DISTINCT e.run_id) < count(*) OR count(DISTINCT e.released_at) > 1);
$$;


--
-- Name: FUNCTION check_invariants(); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.check_invariants() IS 'Returns one row (violation, object_id, detail) per violation of what pyrelease promises, and nothing when all hold (monitoring, soak tests): counter_drift, a project''s available_plots differs from its number of AVAILABLE properties; reservation_fields, a RESERVED row without holder or expiry, or a row that is not RESERVED with one; early_release, an expired release event whose reservation had not expired when released (a cancelled one may: its holder gave it back early); double_release, the same reservation (property, holder, expiry) released twice: twice in one run, or at two different times (events written at one now(), each in a run of its own, are the property reserved again for the same holder and expiry within one transaction, since now() does not move there: reserve, cancel, reserve, cancel). Read-only; takes no lock beyond a normal read (run it when writers are quiet for an exact answer). Works on Citus too (it reads every shard).';


--
-- Name: colocated_workspaces(regclass); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.colocated_workspaces(p_relid regclass) RETURNS uuid[]
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    v_is_citus_table boolean;
    v_shard_id bigint;
    v_project_shard regclass;
    v_ids uuid[];
BEGIN
    IF to_regclass('pg_catalog.pg_dist_shard') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE $sql$SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)$sql$
       INTO v_is_citus_table USING p_relid;
    IF v_is_citus_table THEN
        RETURN '{}'::uuid[];
    END IF;
    v_shard_id := (regexp_match((SELECT c.relname::text FROM pg_class AS c WHERE c.oid = p_relid),
                                '_([0-9]+)$'))[1]::bigint;
    IF v_shard_id IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE $sql$
        SELECT pg_catalog.format('real_estate.%I', 'project_' || t.shardid)::regclass
          FROM pg_catalog.pg_dist_shard AS s
          JOIN pg_catalog.pg_dist_shard AS t
            ON t.logicalrelid = 'real_estate.project'::regclass AND t.shardminvalue = s.shardminvalue
         WHERE s.shardid = $1
    $sql$ INTO v_project_shard USING v_shard_id;
    IF v_project_shard IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT coalesce(array_agg(DISTINCT pr.workspace_id), ''{}''::uuid[]) FROM %s AS pr',
                   v_project_shard)
       INTO v_ids;
    RETURN v_ids;
END;
$_$;


--
-- Name: FUNCTION colocated_workspaces(p_relid regclass); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.colocated_workspaces(p_relid regclass) IS 'For the counter trigger''s TRUNCATE branch, which has no row to route by: the workspaces whose counters a TRUNCATE of relation p_relid (a real_estate.property) must zero. NULL: p_relid is a plain table (a single node, or no Citus), every project''s counter. ''{}'': p_relid is a Citus distributed table''s shell (the coordinator), nothing there, the trigger on each shard does it. ids: p_relid is a Citus shard (the trigger firing on a worker), the workspaces of the co-located project shard, whose counters the trigger then zeroes through a query on those workspaces that Citus runs on that shard, locally. Read-only; reads Citus''s metadata (synced to every worker) only when Citus is there.';


--
-- Name: confirm_sale(uuid, uuid); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.confirm_sale(p_property_id uuid, p_reserved_by_id uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_workspace_id uuid;
BEGIN
    SELECT l.workspace_id INTO v_workspace_id
      FROM real_estate.lock_property(NULL, p_property_id, 'holder',
                                     real_estate.not_null(p_reserved_by_id, 'reserved_by id')) AS l;

    UPDATE real_estate.property AS p
       SET status = 'SOLD', reserved_by_id = NULL, reserved_until = NULL
     WHERE p.workspace_id = v_workspace_id
       AND p.id = p_property_id;
END;
$$;


--
-- Name: FUNCTION confirm_sale(p_property_id uuid, p_reserved_by_id uuid); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.confirm_sale(p_property_id uuid, p_reserved_by_id uuid) IS 'The holder''s unexpired reservation becomes SOLD (holder and expiry cleared), atomically. Raises RE001 no such property, RE004 workspace not ACTIVE, RE005 not this holder''s unexpired reservation (not reserved, which includes already SOLD; reserved by another holder; or expired, reserved_until <= now(), the rule the release applies; the message ends in the stored reserved_until), RE010 a NULL argument. Against the release exactly one of sale and release wins: the row is found and locked FOR UPDATE by real_estate.lock_property and decided under the lock; a sale that waited on the release finds the property AVAILABLE (RE005, nothing sold); a release that meets the sale''s lock skips the row (SKIP LOCKED) and the next run leaves the SOLD row alone (tests/isolation/specs/confirm_sale_vs_release.spec). now() is the transaction''s start, as everywhere: a sale in a transaction begun before the expiry still counts as before it, if the release has not released it meanwhile. Not idempotent: a second call raises RE005 (it is SOLD). On Citus the workspace is looked up on every shard, then the row is locked and updated on its worker.';


--
-- Name: distribute_tables(integer); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.distribute_tables(p_shard_count integer DEFAULT NULL::integer) RETURNS TABLE(object text, action text)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    v_workers integer;
    v_table text;
    v_column text;
    v_done boolean;
    v_routine regprocedure;
    v_triggers text[];
    v_trigger text;
    v_relid regclass;
    v_copied text[] := '{}'::text[];
BEGIN
    IF p_shard_count IS NOT NULL AND (p_shard_count < 1 OR p_shard_count > 64000) THEN
        RAISE EXCEPTION 'shard count must be between 1 and 64000, got %', p_shard_count
            USING ERRCODE = 'RE010';
    END IF;
    -- Routines Citus did not propagate when they were created (those whose types depend on
    -- a table not yet distributed, e.g. release_events' SETOF release_event) are distributed
    -- at the end of this transaction, which Citus allows only over one connection per node.
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'Citus is not installed in database %', current_database()
            USING ERRCODE = 'RE020',
                  HINT = 'Run CREATE EXTENSION citus on the coordinator and on every worker.';
    END IF;
    EXECUTE 'SELECT count(*)::integer FROM pg_catalog.pg_dist_node
              WHERE noderole = ''primary'' AND isactive AND shouldhaveshards AND groupid <> 0'
       INTO v_workers;
    IF v_workers = 0 THEN
        RAISE EXCEPTION 'this Citus coordinator has no active worker to hold shards'
            USING ERRCODE = 'RE021',
                  HINT = 'Add the workers first: SELECT citus_add_node(host, port) on the coordinator.';
    END IF;

    -- 2. Keys that include the distribution column.
    IF to_regclass('real_estate.property_id_workspace_id_key') IS NULL
       AND pg_get_constraintdef((SELECT c.oid FROM pg_constraint AS c
                                  WHERE c.conname = 'property_pkey'
                                    AND c.conrelid = 'real_estate.property'::regclass)) = 'PRIMARY KEY (id)' THEN
        RAISE EXCEPTION 'real_estate.property has no unique index on (id, workspace_id)'
            USING ERRCODE = 'RE022', HINT = 'Run `pyrelease migrate` first (migration 0009).';
    END IF;
    PERFORM set_config('lock_timeout', '10s', true);
    FOREACH v_table IN ARRAY ARRAY['property', 'release_event'] LOOP
        IF pg_get_constraintdef((SELECT c.oid FROM pg_constraint AS c
                                  WHERE c.conname = v_table || '_pkey'
                                    AND c.conrelid = format('real_estate.%I', v_table)::regclass))
           = 'PRIMARY KEY (id)' THEN
            EXECUTE format('ALTER TABLE real_estate.%I DROP CONSTRAINT %I', v_table, v_table || '_pkey');
            IF to_regclass(format('real_estate.%I', v_table || '_id_workspace_id_key')) IS NOT NULL THEN
                -- property (migration 0009): its index becomes the key in an instant.
                EXECUTE format('ALTER TABLE real_estate.%I ADD CONSTRAINT %I PRIMARY KEY USING INDEX %I',
                               v_table, v_table || '_pkey', v_table || '_id_workspace_id_key');
            ELSIF v_table = 'release_event' THEN
                -- The log carries no such index on a single node (migration 0010): the key is
                -- built here, under the lock this transaction holds on the tables anyway.
                ALTER TABLE real_estate.release_event
                    ADD CONSTRAINT release_event_pkey PRIMARY KEY (id, workspace_id);
            ELSE
                RAISE EXCEPTION 'real_estate.% has no unique index on (id, workspace_id)', v_table
                    USING ERRCODE = 'RE022', HINT = 'Run `pyrelease migrate` first (migration 0009).';
            END IF;
            RETURN QUERY SELECT format('real_estate.%s primary key (id, workspace_id)', v_table), 'done';
        ELSE
            RETURN QUERY SELECT format('real_estate.%s primary key (id, workspace_id)', v_table), 'already';
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_constraint AS c
                WHERE c.conname = 'project_pkey' AND c.conrelid = 'real_estate.project'::regclass) THEN
        ALTER TABLE real_estate.project DROP CONSTRAINT project_pkey;
        ALTER TABLE real_estate.project REPLICA IDENTITY USING INDEX project_id_workspace_id_key;
        RETURN QUERY SELECT 'real_estate.project key (id, workspace_id)', 'done';
    ELSE
        RETURN QUERY SELECT 'real_estate.project key (id, workspace_id)', 'already';
    END IF;

    -- 3. The tables, co-located with workspace. Their INSERT triggers are dropped first
    -- and re-created after: copying the rows into the shards must not fire them (the
    -- counter trigger would count every property again, the guard would zero every
    -- counter). Writers wait meanwhile (create_distributed_table locks the tables), so
    -- nothing is missed; a failure rolls all of it back. The other triggers stay, so that
    -- Citus creates them on every shard with the table: it never propagates a TRUNCATE
    -- trigger created later to the shards, where the counter trigger must fire.
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    EXECUTE 'SELECT coalesce(array_agg(pg_catalog.pg_get_triggerdef(t.oid) ORDER BY t.tgname), ''{}''::text[])
               FROM pg_catalog.pg_trigger AS t
              WHERE t.tgrelid IN (''real_estate.workspace''::regclass, ''real_estate.project''::regclass,
                                  ''real_estate.property''::regclass, ''real_estate.release_event''::regclass)
                AND NOT t.tgisinternal
                AND (t.tgtype & 4) <> 0  -- fires on INSERT
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition AS d
                                 WHERE d.logicalrelid = t.tgrelid)'
       INTO v_triggers;
    FOR v_trigger, v_relid IN
        SELECT t.tgname::text, t.tgrelid::regclass
          FROM pg_trigger AS t
         WHERE t.tgrelid IN ('real_estate.workspace'::regclass, 'real_estate.project'::regclass,
                             'real_estate.property'::regclass, 'real_estate.release_event'::regclass)
           AND NOT t.tgisinternal
           AND (t.tgtype & 4) <> 0
    LOOP
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
           INTO v_done USING v_relid;
        IF NOT v_done THEN
            EXECUTE format('DROP TRIGGER %I ON %s', v_trigger, v_relid);
        END IF;
    END LOOP;
    FOR v_table, v_column IN
        SELECT * FROM (VALUES ('workspace', 'id'), ('project', 'workspace_id'),
                              ('property', 'workspace_id'), ('release_event', 'workspace_id')) AS t
    LOOP
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
           INTO v_done USING format('real_estate.%I', v_table)::regclass;
        IF NOT v_done THEN
            v_copied := v_copied || v_table;
            EXECUTE 'SELECT pg_catalog.create_distributed_table($1, $2, colocate_with => $3, shard_count => $4)'
              USING format('real_estate.%I', v_table)::regclass, v_column,
                    CASE WHEN v_table = 'workspace' THEN 'none' ELSE 'real_estate.workspace' END,
                    CASE WHEN v_table = 'workspace' THEN p_shard_count END;
        END IF;
        RETURN QUERY SELECT format('real_estate.%s distributed by %s', v_table, v_column),
                            CASE WHEN v_done THEN 'already' ELSE 'done' END;
    END LOOP;
    FOREACH v_trigger IN ARRAY v_triggers LOOP
        EXECUTE v_trigger;  -- propagated to every shard (citus.enable_unsafe_triggers)
    END LOOP;
    -- The coordinator's copies of the rows, now in the shards, are dropped (the shell
    -- tables' TRUNCATE fires the counter trigger, which does nothing on a shell).
    FOREACH v_table IN ARRAY v_copied LOOP
        EXECUTE 'SELECT pg_catalog.truncate_local_data_after_distributing_table($1)'
          USING format('real_estate.%I', v_table)::regclass;
    END LOOP;

    -- 4. Triggers and routines on every node.
    EXECUTE format('ALTER DATABASE %I SET citus.enable_unsafe_triggers = on', current_database());
    FOR v_routine IN
        SELECT p.oid::regprocedure
          FROM pg_proc AS p
         WHERE p.pronamespace = 'real_estate'::regnamespace
    LOOP
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object
                                 WHERE classid = ''pg_catalog.pg_proc''::regclass AND objid = $1)'
           INTO v_done USING v_routine::oid;
        IF NOT v_done THEN
            EXECUTE 'SELECT pg_catalog.create_distributed_function($1)' USING v_routine;
        END IF;
    END LOOP;
    RETURN QUERY SELECT 'real_estate routines on every node', 'done';
END;
$_$;


--
-- Name: FUNCTION distribute_tables(p_shard_count integer); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.distribute_tables(p_shard_count integer) IS 'Turns a migrated install on a Citus coordinator into a distributed one (what pyrelease distribute calls). Idempotent: each step is skipped when already done, and a second call changes nothing. 1. Refuses, in one line, without Citus in this database (RE020) or without an active worker that can hold shards (RE021). 2. Moves the primary keys of property and release_event onto (id, workspace_id) (RE022 when migration 0009''s index is missing: migrate first) and makes project''s (id, workspace_id) key its replica identity: Citus requires every key to include the distribution column. 3. Distributes workspace by id, then project, property and release_event by workspace_id, all in workspace''s co-location group (each tenant''s rows, counters and log on the same shard group, its foreign keys checked there), with p_shard_count shards (NULL: citus.shard_count); their INSERT triggers are dropped while the rows are copied and re-created after (the counters are copied as they are, not counted twice). 4. Sets citus.enable_unsafe_triggers for this database (the counter triggers fire on the shards, touching only co-located rows) and makes every real_estate routine a Citus distributed object, present on every worker. Returns one row per step: (object, action) with action ''done'' or ''already''. Distributing a table that holds rows copies them to the workers and blocks writes to that table meanwhile (Citus''s create_distributed_table).';


--
-- Name: end_reservation(uuid, uuid, uuid); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.end_reservation(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_row record;
    v_reason text := CASE WHEN p_reserved_by_id IS NULL THEN 'expired' ELSE 'cancelled' END;
    v_run_id bigint;
    v_released integer;
BEGIN
    SELECT * INTO v_row FROM real_estate.lock_property(p_workspace_id, p_property_id) AS l;
    IF v_row.status IS DISTINCT FROM 'RESERVED'
       OR (v_reason = 'cancelled' AND v_row.reserved_by_id <> p_reserved_by_id)
       OR (v_reason = 'expired' AND (v_row.reserved_until > now() OR v_row.activation_status <> 'ACTIVE')) THEN
        RETURN false;
    END IF;

    v_run_id := real_estate.begin_release_run('call');
    v_released := real_estate.release_rows(v_run_id, v_reason, ARRAY[v_row.workspace_id], ARRAY[v_row.row_ctid]);
    PERFORM real_estate.record_release_run(v_run_id, v_released, 0, NULL, true);
    RETURN v_released = 1;
END;
$$;


--
-- Name: FUNCTION end_reservation(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.end_reservation(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid) IS 'The one body that ends a single reservation now: with p_reserved_by_id NULL (release_reservation, release_reservation_in_workspace, a takeover in reserve_property) it releases the property''s reservation if it has expired (reserved_until <= now()) in an ACTIVE workspace, logged as reason ''expired''; with p_reserved_by_id (cancel_reservation) it gives back that holder''s reservation whatever its expiry and workspace, logged as ''cancelled''. Returns true when it did, false otherwise (unknown property, not reserved, another holder, not expired, workspace not ACTIVE; RE010 when p_property_id is NULL). The row is found and locked by real_estate.lock_property, waiting for a transaction that holds it, and decided on the committed row, so against a concurrent release, sale or second call exactly one wins and the reservation is logged once (release_rows, in a ''call'' run of its own, finished at once). Idempotent: a second call returns false.';


--
-- Name: expiry_after(interval); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.expiry_after(p_ttl interval) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_max interval := coalesce(nullif(current_setting('pyrelease.max_ttl', true), ''), '1 year')::interval;
BEGIN
    -- Compared as points in time: interval comparison counts a month as 30 days, so
    -- '-1 year 360 days' would pass a "p_ttl > 0" test yet end in the past.
    IF p_ttl IS NULL OR now() + p_ttl <= now() THEN
        RAISE EXCEPTION 'reservation ttl must be a positive interval, got %', coalesce(p_ttl::text, 'NULL')
            USING ERRCODE = 'RE010';
    ELSIF now() + p_ttl > now() + v_max THEN
        RAISE EXCEPTION 'reservation ttl must be at most % (pyrelease.max_ttl), got %', v_max, p_ttl
            USING ERRCODE = 'RE010';
    END IF;
    RETURN now() + p_ttl;
END;
$$;


--
-- Name: FUNCTION expiry_after(p_ttl interval); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.expiry_after(p_ttl interval) IS 'now() + p_ttl, the reserved_until of a reservation made (reserve_property) or extended (extend_reservation) now: the one TTL check. Raises RE010 (''reservation ttl must be a positive interval, got ...'') unless it lies after now(), and (''reservation ttl must be at most ...'') when it lies after now() plus the setting pyrelease.max_ttl (an interval; 1 year when unset), so that a mistaken TTL never becomes a permanent lock. Change the maximum for a database with ALTER DATABASE ... SET pyrelease.max_ttl = ''2 years'' (or per role, or per session: it guards against mistakes, not against a holder who could as well extend its reservation every year). Compared as points in time: an interval comparison counts a month as 30 days, so ''-1 year 360 days'' would compare positive yet end in the past. Stable, reads nothing but that setting.';


--
-- Name: extend_reservation(uuid, uuid, interval); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.extend_reservation(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval DEFAULT '24:00:00'::interval) RETURNS timestamp with time zone
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_workspace_id uuid;
    v_reserved_until timestamptz;
BEGIN
    v_reserved_until := real_estate.expiry_after(p_ttl);
    SELECT l.workspace_id INTO v_workspace_id
      FROM real_estate.lock_property(NULL, p_property_id, 'holder',
                                     real_estate.not_null(p_reserved_by_id, 'reserved_by id')) AS l;

    UPDATE real_estate.property AS p
       SET reserved_until = v_reserved_until
     WHERE p.workspace_id = v_workspace_id
       AND p.id = p_property_id;
    RETURN v_reserved_until;
END;
$$;


--
-- Name: FUNCTION extend_reservation(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.extend_reservation(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) IS 'The holder of an unexpired reservation moves its expiry to now() + p_ttl (earlier or later than before) and gets the new reserved_until back. Raises RE001 no such property, RE004 workspace not ACTIVE, RE005 not this holder''s unexpired reservation (the message says which: not reserved, held by another holder, or expired, reserved_until <= now(), the rule the release applies; it ends in the stored reserved_until; an expired reservation is never revived), RE010 a NULL argument or a p_ttl that is not a positive interval. The row is found and locked FOR UPDATE by real_estate.lock_property and checked under the lock, so against the release exactly one wins: an extension that waited on the release finds the property released (RE005), and a release that meets the extension''s lock skips the row. Idempotent in effect: repeating it moves the expiry again to now() + p_ttl. On Citus the workspace is looked up on every shard, then the row is locked and updated on its worker.';


--
-- Name: lock_property(uuid, uuid, text, uuid); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.lock_property(p_workspace_id uuid, p_property_id uuid, p_check text DEFAULT NULL::text, p_reserved_by_id uuid DEFAULT NULL::uuid, OUT row_ctid tid, OUT workspace_id uuid, OUT project_id uuid, OUT status text, OUT reserved_by_id uuid, OUT reserved_until timestamp with time zone, OUT activation_status text) RETURNS record
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_workspace_id uuid := p_workspace_id;
BEGIN
    PERFORM real_estate.not_null(p_property_id, 'property id');
    LOOP
        IF p_workspace_id IS NULL THEN
            -- By id alone: the workspace first (on Citus a read on every shard), so that the
            -- locking read names it (on Citus, one worker).
            SELECT p.workspace_id INTO v_workspace_id
              FROM real_estate.property AS p
             WHERE p.id = p_property_id;
            EXIT WHEN v_workspace_id IS NULL;
        END IF;
        SELECT p.ctid, p.workspace_id, p.project_id, p.status, p.reserved_by_id, p.reserved_until,
               w.activation_status
          INTO row_ctid, workspace_id, project_id, status, reserved_by_id, reserved_until,
               activation_status
          FROM real_estate.property AS p
          JOIN real_estate.workspace AS w ON w.id = p.workspace_id
         WHERE p.workspace_id = v_workspace_id
           AND p.id = p_property_id
           FOR UPDATE OF p;
        -- Found; or not in the workspace named; or moved to another one after the lookup
        -- (a single node lets workspace_id change): look it up again.
        EXIT WHEN FOUND OR p_workspace_id IS NOT NULL;
    END LOOP;

    IF p_check IS NULL THEN
        RETURN;
    ELSIF row_ctid IS NULL THEN
        RAISE EXCEPTION 'property % does not exist%', p_property_id,
            CASE WHEN p_workspace_id IS NULL THEN '' ELSE format(' in workspace %s', p_workspace_id) END
            USING ERRCODE = 'RE001';
    ELSIF activation_status <> 'ACTIVE' THEN
        RAISE EXCEPTION 'property % belongs to a % workspace', p_property_id, activation_status
            USING ERRCODE = 'RE004';
    ELSIF p_check <> 'holder' THEN
        RETURN;
    ELSIF status <> 'RESERVED' THEN
        RAISE EXCEPTION 'property % is not reserved (it is %)', p_property_id, status
            USING ERRCODE = 'RE005';
    ELSIF reserved_by_id <> p_reserved_by_id THEN
        RAISE EXCEPTION 'property % is held by another holder, reserved until %', p_property_id, reserved_until
            USING ERRCODE = 'RE005';
    ELSIF reserved_until <= now() THEN
        RAISE EXCEPTION 'the reservation of property % has expired, reserved until %', p_property_id, reserved_until
            USING ERRCODE = 'RE005';
    END IF;
END;
$$;


--
-- Name: FUNCTION lock_property(p_workspace_id uuid, p_property_id uuid, p_check text, p_reserved_by_id uuid, OUT row_ctid tid, OUT workspace_id uuid, OUT project_id uuid, OUT status text, OUT reserved_by_id uuid, OUT reserved_until timestamp with time zone, OUT activation_status text); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.lock_property(p_workspace_id uuid, p_property_id uuid, p_check text, p_reserved_by_id uuid, OUT row_ctid tid, OUT workspace_id uuid, OUT project_id uuid, OUT status text, OUT reserved_by_id uuid, OUT reserved_until timestamp with time zone, OUT activation_status text) IS 'Finds a property (RE010 when p_property_id is NULL) and locks its row FOR UPDATE (waiting for a transaction that holds it), then returns it as committed: the row version''s ctid, workspace, project, status, holder, expiry and its workspace''s activation_status (all NULL when there is no such property). The locking read names the workspace (p_workspace_id; when NULL it is looked up by id first, on Citus a read of every shard, and again if the property moved to another workspace before the lock), so on Citus it runs on the one worker that holds it. p_check NULL: no check. ''active'': raises RE001 when the property does not exist (in that workspace) and RE004 when its workspace is not ACTIVE. ''holder'': those, and RE005 unless it is p_reserved_by_id''s unexpired reservation, the message saying which case (not reserved, which includes SOLD; held by another holder; expired, reserved_until <= now(), the rule the release applies) and ending in the stored reserved_until. Decided under the lock: against a concurrent release, sale or reservation exactly one wins. Every lifecycle routine (reserve, extend, sell, cancel, release_reservation) finds its property through it.';


--
-- Name: not_null(anyelement, text); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.not_null(p_value anyelement, p_name text) RETURNS anyelement
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF p_value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', p_name USING ERRCODE = 'RE010';
    END IF;
    RETURN p_value;
END;
$$;


--
-- Name: FUNCTION not_null(p_value anyelement, p_name text); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.not_null(p_value anyelement, p_name text) IS 'Returns p_value, or raises RE010 (''<p_name> must not be NULL'') when it is NULL: the check of the ids every lifecycle routine takes (property, holder, workspace). Immutable, reads nothing.';


--
-- Name: project_guard_available_plots(); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.project_guard_available_plots() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_write text;
    v_changes text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.available_plots := 0;
        RETURN NEW;
    END IF;

    -- The statement's changed counters as ',<id>:<delta>,', each old row paired with its new
    -- row by position (PostgreSQL appends both transition tables row by row, in step); a row
    -- whose id changed with its counter is named by both ids, which no announcement holds.
    v_changes := ARRAY(
        SELECT ',' || n.id::text || CASE WHEN n.id = o.id THEN '' ELSE '/' || o.id::text END
               || ':' || (n.available_plots::bigint - o.available_plots)::text || ','
          FROM (SELECT row_number() OVER () AS pos, r.id, r.available_plots FROM old_rows AS r) AS o
          JOIN (SELECT row_number() OVER () AS pos, r.id, r.available_plots FROM new_rows AS r) AS n
            ON n.pos = o.pos
         WHERE n.available_plots IS DISTINCT FROM o.available_plots);
    IF cardinality(v_changes) = 0 THEN
        RETURN NULL;
    END IF;

    v_write := current_setting('pyrelease.counter_write', true);
    IF v_write <> ''
       AND starts_with(v_write, (pg_trigger_depth() - 1)::text || '|,')
       AND NOT EXISTS (SELECT 1
                         FROM unnest(v_changes) AS c(change)
                        WHERE c.change NOT IN (SELECT ',' || a.entry || ','
                                                 FROM unnest(string_to_array(split_part(v_write, '|', 2), ','))
                                                      AS a(entry)))
       AND EXISTS (SELECT 1
                     FROM pg_class AS c
                    WHERE c.oid = TG_RELID
                      AND pg_get_userbyid(c.relowner) = current_user) THEN
        RETURN NULL;
    END IF;

    RAISE EXCEPTION 'real_estate.project.available_plots is maintained by the database'
        USING ERRCODE = 'RE011',
              HINT = 'Change real_estate.property rows; the counter follows them.';
END;
$$;


--
-- Name: FUNCTION project_guard_available_plots(); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.project_guard_available_plots() IS 'Trigger function on real_estate.project that keeps available_plots the database''s own. As a BEFORE INSERT row trigger it starts a new project at 0 (it has no properties yet). As an AFTER UPDATE statement trigger it looks at the rows whose counter the statement changed (each old row paired with its new row in the transition tables) and refuses the statement (RE011) unless every change is exactly one real_estate.apply_counter_deltas announced in pyrelease.counter_write: same id before and after, the announced delta for that id (so a host BEFORE UPDATE trigger on project that alters the counter while riding on that UPDATE is refused, whatever its name''s place in the firing order), issued one trigger level below the announcement (not by a trigger the counter write fires in turn), as the table''s owner (the SECURITY DEFINER counter routines run as the owner; a session or trigger of any other role that sets the announcement itself runs as itself and is refused, even granted the column). The owner itself, who could as well drop the trigger, is trusted: an announcement it writes by hand at top level lets its own matching write through. One bypass for the counter trigger and repair_counters alike, checked once per statement (the announcement read once, the owner looked up once), whatever the number of rows. Reads no message text (a translated lc_messages changes nothing); a statement that leaves every counter as it was passes.';


--
-- Name: property_sync_available_plots(); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.property_sync_available_plots() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_project_ids uuid[];
    v_deltas integer[];
    v_workspace_ids uuid[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        -- Single node: every counter. Citus: the trigger on each shard zeroes the counters
        -- of the co-located project shard's workspaces (a local query on that shard), and
        -- the coordinator's shell table has nothing to do (colocated_workspaces).
        v_workspace_ids := real_estate.colocated_workspaces(TG_RELID);
        IF v_workspace_ids IS NULL THEN
            SELECT array_agg(l.id ORDER BY l.id), array_agg(-l.available_plots ORDER BY l.id),
                   array_agg(DISTINCT l.workspace_id)
              INTO v_project_ids, v_deltas, v_workspace_ids
              FROM (SELECT pr.id, pr.workspace_id, pr.available_plots
                      FROM real_estate.project AS pr
                     ORDER BY pr.id
                       FOR NO KEY UPDATE) AS l
             WHERE l.available_plots <> 0;
        ELSIF cardinality(v_workspace_ids) > 0 THEN
            SELECT array_agg(l.id ORDER BY l.id), array_agg(-l.available_plots ORDER BY l.id)
              INTO v_project_ids, v_deltas
              FROM (SELECT pr.id, pr.available_plots
                      FROM real_estate.project AS pr
                     WHERE pr.workspace_id = ANY (v_workspace_ids)
                     ORDER BY pr.id
                       FOR NO KEY UPDATE) AS l
             WHERE l.available_plots <> 0;
        ELSE
            RETURN NULL;
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(d.project_id ORDER BY d.project_id), array_agg(d.delta ORDER BY d.project_id),
               array_agg(DISTINCT d.workspace_id)
          INTO v_project_ids, v_deltas, v_workspace_ids
          FROM (SELECT n.workspace_id, n.project_id, count(*)::integer AS delta
                  FROM new_rows AS n
                 WHERE n.status = 'AVAILABLE' AND n.project_id IS NOT NULL
                 GROUP BY n.workspace_id, n.project_id) AS d;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(d.project_id ORDER BY d.project_id), array_agg(d.delta ORDER BY d.project_id),
               array_agg(DISTINCT d.workspace_id)
          INTO v_project_ids, v_deltas, v_workspace_ids
          FROM (SELECT o.workspace_id, o.project_id, -count(*)::integer AS delta
                  FROM old_rows AS o
                 WHERE o.status = 'AVAILABLE' AND o.project_id IS NOT NULL
                 GROUP BY o.workspace_id, o.project_id) AS d;
    ELSE
        SELECT array_agg(d.project_id ORDER BY d.project_id), array_agg(d.delta ORDER BY d.project_id),
               array_agg(DISTINCT d.workspace_id)
          INTO v_project_ids, v_deltas, v_workspace_ids
          FROM (SELECT c.workspace_id, c.project_id, sum(c.delta)::integer AS delta
                  FROM (SELECT o.workspace_id, o.project_id, -1 AS delta
                          FROM old_rows AS o
                         WHERE o.status = 'AVAILABLE' AND o.project_id IS NOT NULL
                        UNION ALL
                        SELECT n.workspace_id, n.project_id, 1 AS delta
                          FROM new_rows AS n
                         WHERE n.status = 'AVAILABLE' AND n.project_id IS NOT NULL) AS c
                 GROUP BY c.workspace_id, c.project_id
                HAVING sum(c.delta) <> 0) AS d;
    END IF;

    IF v_project_ids IS NULL THEN
        RETURN NULL;
    END IF;

    PERFORM real_estate.apply_counter_deltas(v_workspace_ids, v_project_ids, v_deltas);
    RETURN NULL;
END;
$$;


--
-- Name: FUNCTION property_sync_available_plots(); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.property_sync_available_plots() IS 'Statement-level trigger function on real_estate.property (AFTER INSERT, UPDATE, DELETE, TRUNCATE): keeps real_estate.project.available_plots equal to the number of the project''s AVAILABLE properties after every statement, whoever issued it (package functions or the application''s own INSERT/UPDATE/DELETE/COPY/MERGE/TRUNCATE). One counter UPDATE per statement, not per row: one grouped delta per project computed from the transition tables, applied by apply_counter_deltas, which locks the project rows in id order first, so concurrent writers touching the same projects in different orders cannot deadlock on the counters. SECURITY DEFINER, so that roles without UPDATE on available_plots still get exact counters. On Citus it fires on the shards of property and names the rows'' workspaces in every counter query, which then reaches only the co-located project shard (a local query on the same worker); a TRUNCATE zeroes the counters of the co-located project shard (colocated_workspaces), and nothing on the coordinator''s shell table.';


--
-- Name: purge_release_log(interval); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.purge_release_log(p_retention interval DEFAULT '30 days'::interval) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    v_cutoff timestamptz;
    v_first_kept_run bigint;
    v_purged bigint;
    v_upto bigint;
    v_floor bigint;
    v_runs integer;
BEGIN
    v_cutoff := real_estate.release_cutoff(p_retention);

    -- Runs before the first one (in id order) started within the retention are old.
    SELECT r.id INTO v_first_kept_run
      FROM real_estate.release_run AS r
     WHERE r.started_at >= v_cutoff
     ORDER BY r.id
     LIMIT 1;
    -- (None: every run is old; no run at all: nothing is.)
    v_first_kept_run := coalesce(v_first_kept_run, (SELECT max(r.id) + 1 FROM real_estate.release_run AS r), 0);

    -- Events are deleted from the oldest on, up to (not including) the first event of a run
    -- that is not old, and below the lowest id a running writer may still commit (read after
    -- the events, as release_events does): what stays is a suffix of the ids, so that a
    -- consumer whose cursor was passed learns it (release_events).
    SELECT coalesce(max(p.purged_through), 0) INTO v_purged FROM real_estate.release_event_purged AS p;
    SELECT max(e.id) INTO v_upto
      FROM real_estate.release_event AS e
     WHERE e.id > v_purged
       AND e.id < coalesce((SELECT k.id FROM real_estate.release_event AS k
                             WHERE k.id > v_purged AND k.run_id >= v_first_kept_run
                             ORDER BY k.id LIMIT 1), 9223372036854775807);
    v_floor := real_estate.release_event_floor();
    IF v_floor <= v_upto THEN
        SELECT max(e.id) INTO v_upto
          FROM real_estate.release_event AS e
         WHERE e.id > v_purged AND e.id < v_floor;
    END IF;
    IF v_upto IS NOT NULL THEN
        DELETE FROM real_estate.release_event AS e WHERE e.id > v_purged AND e.id <= v_upto;
        INSERT INTO real_estate.release_event_purged AS p (singleton, purged_through, purged_at)
        VALUES (true, v_upto, now())
        ON CONFLICT ON CONSTRAINT release_event_purged_pkey DO UPDATE
           SET purged_through = greatest(p.purged_through, excluded.purged_through),
               purged_at = excluded.purged_at;
    END IF;

    -- The old runs left without events (a run with an event still kept stays until it goes).
    DELETE FROM real_estate.release_run AS r
     WHERE r.id < v_first_kept_run
       AND r.id <> ALL (ARRAY(SELECT DISTINCT e.run_id FROM real_estate.release_event AS e
                               WHERE e.run_id < v_first_kept_run));
    GET DIAGNOSTICS v_runs = ROW_COUNT;

    -- pg_cron's tables exist here only in cron.database_name (CREATE EXTENSION is refused
    -- elsewhere), so their presence settles it without reading that setting, which is
    -- superuser-only (a non-superuser owner's every scheduled run would fail on it). The
    -- jobs are this database's own (cron.job.database); pg_cron's row security already
    -- limits a non-superuser owner to its own jobs. Without the rights to purge them (no
    -- USAGE on schema cron here), the run history is left alone rather than failing the run.
    IF EXISTS (SELECT 1 FROM pg_extension AS x WHERE x.extname = 'pg_cron')
       AND has_schema_privilege(current_user, 'cron', 'USAGE') THEN
        -- (nested: has_table_privilege resolves the name, which needs USAGE on cron)
        IF has_table_privilege(current_user, 'cron.job_run_details', 'DELETE')
           AND has_table_privilege(current_user, 'cron.job', 'SELECT') THEN
            EXECUTE $sql$
                DELETE FROM cron.job_run_details AS d
                 WHERE d.start_time < $1
                   AND d.jobid IN (SELECT j.jobid FROM cron.job AS j
                                    WHERE j.database = current_database()
                                      AND j.jobname LIKE 'release-expired-reservations%')
            $sql$ USING v_cutoff;
        END IF;
    END IF;
    RETURN v_runs;
END;
$_$;


--
-- Name: FUNCTION purge_release_log(p_retention interval); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.purge_release_log(p_retention interval) IS 'Deletes the release log older than p_retention (real_estate.release_cutoff: RE010 unless at least 1 day). The runs before the first one (in id order) that started within the retention are old; release events are deleted from the oldest id up to, not including, the first event of a run that is not old or the lowest id a running writer may still commit (release_event_floor), so that the events kept are always a suffix of the ids: the highest id deleted is recorded in real_estate.release_event_purged, and release_events() tells a consumer whose cursor is below it (RE030) instead of skipping. The old runs left without events are deleted (a run with an event kept stays until that event goes). Then, when pg_cron lives in this database and the owner may (USAGE on schema cron, DELETE on cron.job_run_details), the rows of this database''s release jobs in cron.job_run_details older than that (keyed on start_time: a failed run can have no end_time). Returns the number of release_run rows deleted. Cost: what it deletes (it walks the ids from the last purge on). Idempotent; concurrent purges agree (the record only grows); the scheduled run calls it at its end.';


--
-- Name: record_release_heartbeat(timestamp with time zone, boolean); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.record_release_heartbeat(p_started_at timestamp with time zone, p_finished boolean) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_finished_at timestamptz := CASE WHEN p_finished THEN clock_timestamp() END;
BEGIN
    -- An UPDATE first: the row is there but for the first run (an upsert would also lock it,
    -- one more WAL record per run).
    UPDATE real_estate.release_heartbeat AS h
       SET started_at = greatest(h.started_at, p_started_at),
           finished_at = greatest(h.finished_at, v_finished_at)
     WHERE h.singleton;
    IF NOT FOUND THEN
        INSERT INTO real_estate.release_heartbeat AS h (singleton, started_at, finished_at)
        VALUES (true, p_started_at, v_finished_at)
        ON CONFLICT ON CONSTRAINT release_heartbeat_pkey
        DO UPDATE SET started_at = greatest(h.started_at, excluded.started_at),
                      finished_at = greatest(h.finished_at, excluded.finished_at);
    END IF;
END;
$$;


--
-- Name: FUNCTION record_release_heartbeat(p_started_at timestamp with time zone, p_finished boolean); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.record_release_heartbeat(p_started_at timestamp with time zone, p_finished boolean) IS 'The scheduled run''s heartbeat (real_estate.release_heartbeat, one row): started_at becomes p_started_at unless a later start is recorded, and with p_finished finished_at becomes clock_timestamp() (neither ever moves back, whatever the order concurrent runs record in). run_release_job records a run with work to do when it starts (before its first batch) and every run when it finishes; a run with nothing to do writes only this: one row, updated in place, whatever the schedule. The health rule reads it (release_health): the last finished run, and a run started after it within the limit is in progress.';


--
-- Name: record_release_run(bigint, integer, integer, text, boolean); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.record_release_run(p_run_id bigint, p_released integer, p_failed integer, p_error text, p_finish boolean) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_run real_estate.release_run;
BEGIN
    UPDATE real_estate.release_run AS r
       SET released = r.released + p_released,
           failed = r.failed + p_failed,
           error = coalesce(r.error, p_error),
           finished_at = CASE WHEN p_finish THEN clock_timestamp() ELSE r.finished_at END
     WHERE r.id = p_run_id
    RETURNING r.* INTO v_run;

    IF p_finish AND v_run.id IS NOT NULL THEN
        RAISE LOG 'pyrelease: release run % (%) released % expired reservation(s), % failed, in % ms%',
            v_run.id, v_run.source, v_run.released, v_run.failed,
            round(extract(epoch FROM v_run.finished_at - v_run.started_at) * 1000, 1),
            CASE WHEN v_run.error IS NULL THEN '' ELSE '; first error: ' || v_run.error END;
    END IF;
END;
$$;


--
-- Name: FUNCTION record_release_run(p_run_id bigint, p_released integer, p_failed integer, p_error text, p_finish boolean); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.record_release_run(p_run_id bigint, p_released integer, p_failed integer, p_error text, p_finish boolean) IS 'Adds a batch''s released and failed counts to run p_run_id, keeps its first error, and with p_finish stamps finished_at and writes the run''s one-line summary to the server log (RAISE LOG: released, failed, duration and first error). Every release routine records through it.';


--
-- Name: release_batch(text, bigint, tid[], uuid[], uuid[], uuid[]); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_batch(p_source text, p_run_id bigint, p_ctids tid[], p_ids uuid[], p_project_ids uuid[], p_workspace_ids uuid[], OUT run_id bigint, OUT released integer, OUT failed integer, OUT error text) RETURNS record
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    v_workspaces uuid[];
    v_active uuid[];
    v_projects uuid[];
    v_ctids tid[];
    v_try integer := 1;
    v_message text;
    v_sqlstate text;
    v_id uuid;
BEGIN
    run_id := p_run_id;
    released := 0;
    failed := 0;
    IF coalesce(cardinality(p_ctids), 0) = 0 THEN
        RETURN;
    END IF;
    IF run_id IS NULL THEN
        run_id := real_estate.begin_release_run(p_source);
    END IF;
    IF cardinality(real_estate.shard_bounds()) > 0 THEN
        -- Citus plans a statement that filters its distribution column on a parameter only
        -- with the parameter's value: custom plans, until this function returns.
        PERFORM set_config('plan_cache_mode', 'force_custom_plan', true);
    END IF;
    -- The batch's workspaces (few: the pick orders its rows by workspace), the ACTIVE ones
    -- among them, and its projects, as the arrays every statement filters on.
    v_workspaces := ARRAY(SELECT DISTINCT u.id FROM unnest(p_workspace_ids) AS u(id));
    v_active := ARRAY(SELECT w.id
                        FROM real_estate.workspace AS w
                       WHERE w.id = ANY (v_workspaces)
                         AND w.activation_status = 'ACTIVE');
    v_projects := ARRAY(SELECT DISTINCT u.id FROM unnest(p_project_ids) AS u(id) WHERE u.id IS NOT NULL);
    v_ctids := p_ctids;

    LOOP
        BEGIN
            released := released + real_estate.release_rows(run_id, 'expired', v_active, v_ctids, v_projects);
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected THEN
                RAISE;  -- the caller's transaction must retry: not a failure of a row
            WHEN OTHERS THEN
                -- One by one, each row in its own statement (and subtransaction).
                FOR v_i IN 1 .. cardinality(v_ctids) LOOP
                    BEGIN
                        released := released
                            + real_estate.release_rows(run_id, 'expired', v_active, ARRAY[v_ctids[v_i]], v_projects);
                    EXCEPTION
                        WHEN serialization_failure OR deadlock_detected THEN
                            RAISE;
                        WHEN OTHERS THEN
                            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE;
                            SELECT p.id INTO v_id
                              FROM real_estate.property AS p
                             WHERE p.ctid = v_ctids[v_i] AND p.workspace_id = ANY (v_active);
                            failed := failed + 1;
                            error := coalesce(error, format('property %s: %s (SQLSTATE %s)', v_id, v_message, v_sqlstate));
                            RAISE WARNING 'pyrelease: could not release property %: % (SQLSTATE %)',
                                v_id, v_message, v_sqlstate;
                    END;
                END LOOP;
                EXIT;
        END;

        EXIT WHEN v_try = 2 OR released + failed >= cardinality(p_ctids) OR p_ids IS NULL;
        -- Picked but not released: held elsewhere, no longer expired, or changed after the
        -- pick (a new row version, at a new ctid). Those still expired are tried once more,
        -- at their current version (and project).
        v_try := 2;
        SELECT array_agg(p.ctid), array_agg(DISTINCT p.project_id) FILTER (WHERE p.project_id IS NOT NULL)
          INTO v_ctids, v_projects
          FROM real_estate.property AS p
         WHERE p.id = ANY (p_ids)
           AND p.workspace_id = ANY (v_active)
           AND p.status = 'RESERVED'
           AND p.reserved_until <= now();
        EXIT WHEN v_ctids IS NULL;
    END LOOP;

    IF p_run_id IS NULL AND released = 0 AND failed = 0 THEN
        -- Every row was held elsewhere: this batch did nothing, so it leaves no run behind.
        DELETE FROM real_estate.release_run AS r WHERE r.id = run_id;
        run_id := NULL;
    END IF;
END;
$$;


--
-- Name: FUNCTION release_batch(p_source text, p_run_id bigint, p_ctids tid[], p_ids uuid[], p_project_ids uuid[], p_workspace_ids uuid[], OUT run_id bigint, OUT released integer, OUT failed integer, OUT error text); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_batch(p_source text, p_run_id bigint, p_ctids tid[], p_ids uuid[], p_project_ids uuid[], p_workspace_ids uuid[], OUT run_id bigint, OUT released integer, OUT failed integer, OUT error text) IS 'One batch of a release run: consecutive rows of its pick (their versions'' ctids, ids, projects and workspaces), all of one shard group (real_estate.release_batch_ends). Releases those that still hold an expired reservation of an ACTIVE workspace through real_estate.release_rows, in one statement that locks the batch''s projects'' counter rows and then its rows with SKIP LOCKED: a batch never waits on a row or counter another transaction holds (left for the next run), concurrent runs neither block nor deadlock each other, a row is released at most once and a row changed meanwhile (sold, re-reserved) is left alone. A picked row updated after the pick (a new version) but still expired is looked up again by id, once, in the batch''s workspaces (a row moved to another workspace is the next run''s). If the statement fails (a host trigger or constraint raises), the rows are retried one by one: each failing row is counted in failed and named in error, the others are released; a serialization failure or deadlock is raised for the caller to retry. With p_run_id NULL the run row is created by the first batch that releases something, so a run that finds nothing writes nothing. Every statement names the batch''s workspaces: on Citus the batch runs on one worker and commits there in one phase.';


--
-- Name: release_batch_ends(uuid[], integer, integer[]); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_batch_ends(p_workspace_ids uuid[], p_batch_size integer, p_bounds integer[]) RETURNS integer[]
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF cardinality(p_bounds) = 0 THEN
        -- A single node: one group, nothing to compute per row.
        RETURN ARRAY(SELECT least(e, cardinality(p_workspace_ids))
                       FROM generate_series(p_batch_size, cardinality(p_workspace_ids) + p_batch_size - 1,
                                            p_batch_size) AS e);
    END IF;
    -- A batch ends every p_batch_size rows of a run of rows of one group, and where the run
    -- ends (the pick orders its rows by group: a run is usually the whole group).
    RETURN ARRAY(
        SELECT c.n::integer
          FROM (SELECT b.n, b.grp, b.next_grp,
                       row_number() OVER (PARTITION BY b.grp, b.run ORDER BY b.n) AS pos
                  FROM (SELECT a.n, a.grp, lead(a.grp) OVER (ORDER BY a.n) AS next_grp,
                               a.n - row_number() OVER (PARTITION BY a.grp ORDER BY a.n) AS run
                          FROM (SELECT u.n, width_bucket(uuid_hash(u.w), p_bounds) AS grp
                                  FROM unnest(p_workspace_ids) WITH ORDINALITY AS u(w, n)) AS a) AS b) AS c
         WHERE c.pos % p_batch_size = 0 OR c.next_grp IS DISTINCT FROM c.grp
         ORDER BY c.n);
END;
$$;


--
-- Name: FUNCTION release_batch_ends(p_workspace_ids uuid[], p_batch_size integer, p_bounds integer[]); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_batch_ends(p_workspace_ids uuid[], p_batch_size integer, p_bounds integer[]) IS 'Cuts a pick (the workspace of each picked row, in the pick''s order) into batches and returns the position of each batch''s last row, ascending: a batch is at most p_batch_size consecutive rows, all of one shard group (width_bucket(uuid_hash(workspace_id), p_bounds), p_bounds from real_estate.shard_bounds()), so that on Citus every statement of a batch is routed to the one worker that holds its group. On a single node (p_bounds empty) every row is in one group and the ends are every p_batch_size-th row and the last. Immutable, no table read.';


--
-- Name: release_cutoff(interval); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_cutoff(p_retention interval) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- Compared as points in time: interval comparison counts a month as 30 days.
    IF p_retention IS NULL OR now() - p_retention > now() - interval '1 day' THEN
        RAISE EXCEPTION 'retention must be at least 1 day, got %', coalesce(p_retention::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;
    RETURN now() - p_retention;
END;
$$;


--
-- Name: FUNCTION release_cutoff(p_retention interval); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_cutoff(p_retention interval) IS 'now() - p_retention: the log rows of runs started before it are purged (purge_release_log, run_release_job). Raises RE010 (''retention must be at least 1 day, got ...'') unless it lies at least 1 day in the past, compared as points in time (an interval comparison counts a month as 30 days): a shorter retention would purge events that a consumer briefly away has not read yet. `pyrelease schedule --retention` applies this same check. Stable, reads nothing.';


--
-- Name: release_event_announce(); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_event_announce() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- On Citus this fires on a worker's shard (release_event_<shard id>), after the
    -- coordinator gave out the ids: there release_rows announces on the coordinator.
    IF TG_TABLE_NAME = 'release_event' THEN
        PERFORM real_estate.release_event_announce_floor();
    END IF;
    RETURN NULL;
END;
$$;


--
-- Name: FUNCTION release_event_announce(); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_event_announce() IS 'Statement-level BEFORE INSERT trigger function on real_estate.release_event, whoever inserts (the release, a takeover by reserve_property, cancel_reservation, the owner by hand): announces the transaction''s floor, the lowest event id it may draw, before the statement draws its ids (real_estate.release_event_announce_floor; once per transaction). O(1) per statement. On Citus it fires on the workers'' shards, after the coordinator gave out the ids, and does nothing there: release_rows announces on the coordinator for the events it writes.';


--
-- Name: release_event_announce_floor(); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_event_announce_floor() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_xid text := pg_current_xact_id()::text;
    v_floor bigint;
BEGIN
    IF current_setting('pyrelease.release_floor', true) = v_xid THEN
        RETURN;
    END IF;
    -- Every id drawn from now on is above the sequence's last value (CACHE 1: ids are given
    -- out in time order, whoever draws them); none drawn yet: 0.
    v_floor := coalesce(pg_sequence_last_value('real_estate.release_event_id_seq'::regclass) + 1, 0);
    -- The key: 21061 ('RE') in the top 16 bits, the floor in the low 48 (a higher floor is
    -- announced as 2^48 - 1, still a floor). Shared: writers never wait for each other.
    PERFORM pg_advisory_xact_lock_shared((21061::bigint << 48) + least(v_floor, 281474976710655));
    PERFORM set_config('pyrelease.release_floor', v_xid, true);
END;
$$;


--
-- Name: FUNCTION release_event_announce_floor(); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_event_announce_floor() IS 'Announces, before the transaction draws its first real_estate.release_event id, the lowest id it may draw (its floor: the identity sequence''s last value plus one, read now; the sequence has CACHE 1, so every id drawn later is above it, whichever session draws it). The announcement is a transaction-level shared advisory lock on the key 21061 * 2^48 + floor (the floor capped at 2^48 - 1), which every role sees in pg_locks without any privilege: real_estate.release_event_floor reads it, and release_events() holds back the events after a gap only while a transaction whose floor is at or below that gap runs. Once per transaction (the transaction-local setting pyrelease.release_floor holds its xid): later statements draw higher ids. A subtransaction that rolls back takes its announcement with it (and its ids, which can then never be committed); the next insert announces again. Shared locks never conflict: writers never wait for each other. Called by the BEFORE INSERT statement trigger release_event_announce on a single node, and by release_rows on a Citus coordinator (which gives out the ids; the trigger fires on the workers'' shards, after that).';


--
-- Name: release_event_floor(); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_event_floor() RETURNS bigint
    LANGUAGE sql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT min(((l.classid::int8 & 65535) << 32) | l.objid::int8)
      FROM pg_catalog.pg_locks AS l
     WHERE l.locktype = 'advisory'
       AND l.objsubid = 1
       AND l.granted
       AND l.classid::int8 >> 16 = 21061
       AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = current_database())
       AND l.pid IS DISTINCT FROM pg_backend_pid();
$$;


--
-- Name: FUNCTION release_event_floor(); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_event_floor() IS 'The lowest real_estate.release_event id that a transaction of another session (or a prepared one) may still commit: the least floor announced by release_event_announce_floor among the transactions that hold their announcement (a shared advisory lock on 21061 * 2^48 + floor, decoded from pg_locks, which shows every session''s locks to any role), or NULL when no other transaction writes events. An id below it that is not committed now never will be (it was rolled back, or never used). Read-only; reads pg_locks (a snapshot of the lock table), nothing else. Not SECURITY DEFINER: needs no privilege.';


--
-- Name: release_event_notify(); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_event_notify() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- On Citus this trigger fires on a worker's release_event shard, where the
    -- coordinator-local release_notification does not exist: there release_rows arms the
    -- notification on the coordinator.
    IF to_regclass('real_estate.release_notification') IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM real_estate.release_event_notify_arm(min(e.id), max(e.id), count(*)) FROM new_rows AS e;
    RETURN NULL;
END;
$$;


--
-- Name: FUNCTION release_event_notify(); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_event_notify() IS 'Statement-level AFTER INSERT trigger function on real_estate.release_event, whoever inserts (the release, a takeover by reserve_property, cancel_reservation, the application): adds the statement''s events (lowest and highest id and count, from the transition table) to the transaction''s one NOTIFY real_estate_release at commit (release_event_notify_arm). One notification per transaction that wrote events, whatever the number of statements; none on rollback. O(1) per statement plus the transition table''s copy of the inserted rows. On Citus it fires on the workers'' shards and does nothing there: release_rows arms the notification on the coordinator for the events it writes.';


--
-- Name: release_event_notify_arm(bigint, bigint, bigint); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_event_notify_arm(p_min_id bigint, p_max_id bigint, p_count bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_min bigint := p_min_id;
    v_max bigint := p_max_id;
    v_count bigint := p_count;
    v_xid text := pg_current_xact_id()::text;
    v_state text[] := string_to_array(current_setting('pyrelease.release_notify', true), ' ');
    v_ctid tid;
BEGIN
    IF coalesce(p_count, 0) = 0 THEN
        RETURN;
    END IF;
    IF cardinality(v_state) = 5 AND v_state[1] = v_xid THEN
        v_min := least(v_min, v_state[2]::bigint);
        v_max := greatest(v_max, v_state[3]::bigint);
        v_count := v_count + v_state[4]::bigint;
        v_ctid := v_state[5]::tid;
    ELSE
        -- Deferred to the commit whatever the transaction set (SET CONSTRAINTS ALL IMMEDIATE
        -- would fire it inside this INSERT, before the totals below exist).
        SET CONSTRAINTS real_estate.release_event_notify_commit DEFERRED;
        INSERT INTO real_estate.release_notification DEFAULT VALUES RETURNING ctid INTO v_ctid;
    END IF;
    PERFORM set_config('pyrelease.release_notify',
                       concat_ws(' ', v_xid, v_min, v_max, v_count, v_ctid), true);
END;
$$;


--
-- Name: FUNCTION release_event_notify_arm(p_min_id bigint, p_max_id bigint, p_count bigint); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_event_notify_arm(p_min_id bigint, p_max_id bigint, p_count bigint) IS 'Adds release events just written (their lowest and highest id, and how many) to the transaction''s running totals, kept in the transaction-local setting pyrelease.release_notify (''xid min max count ctid''), and on the transaction''s first call inserts the one row of real_estate.release_notification whose deferred trigger (release_event_notify_commit) sends the transaction''s one NOTIFY real_estate_release at commit; that trigger is set DEFERRED first, so that a SET CONSTRAINTS ALL IMMEDIATE in force does not fire it inside the INSERT, before the totals exist (a SET CONSTRAINTS ... IMMEDIATE issued later fires it then, and the events written after arm a second notification). Called by the statement trigger release_event_notify on a single node, and by release_rows on Citus (where that trigger fires on the workers'' shards, without the coordinator''s release_notification). Transactional: the setting and the row are undone with the (sub)transaction that wrote the events, and NOTIFY is sent only at commit.';


--
-- Name: release_event_notify_commit(); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_event_notify_commit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_state text[] := string_to_array(current_setting('pyrelease.release_notify', true), ' ');
BEGIN
    IF cardinality(v_state) = 5 AND v_state[1] = pg_current_xact_id()::text THEN
        PERFORM pg_notify('real_estate_release',
                          jsonb_build_object('min_id', v_state[2]::bigint,
                                            'max_id', v_state[3]::bigint,
                                            'count', v_state[4]::bigint)::text);
        DELETE FROM real_estate.release_notification AS n WHERE n.ctid = v_state[5]::tid;
        PERFORM set_config('pyrelease.release_notify', '', true);
    END IF;
    RETURN NULL;
END;
$$;


--
-- Name: FUNCTION release_event_notify_commit(); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_event_notify_commit() IS 'The deferred constraint trigger on real_estate.release_notification that release_event_notify_arm arms once per transaction. At commit it sends NOTIFY real_estate_release, ''{"count": ..., "max_id": ..., "min_id": ...}'' (the lowest and highest release_event id the transaction wrote, and how many), removes its row and clears the running totals (so that events written after a SET CONSTRAINTS ... IMMEDIATE arm a second notification instead of being left out). PostgreSQL delivers the notification only if and when the transaction commits. It is a wake-up, not the data: listeners read release_events() after their cursor, so a notification missed (listener disconnected) loses nothing.';


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: release_event; Type: TABLE; Schema: real_estate; Owner: -
--

CREATE TABLE real_estate.release_event (
    id bigint NOT NULL,
    run_id bigint NOT NULL,
    property_id uuid NOT NULL,
    workspace_id uuid NOT NULL,
    project_id uuid,
    reserved_by_id uuid NOT NULL,
    reserved_until timestamp with time zone NOT NULL,
    released_at timestamp with time zone DEFAULT now() NOT NULL,
    reason text DEFAULT 'expired'::text NOT NULL,
    CONSTRAINT release_event_expired_check CHECK (((reason <> 'expired'::text) OR (reserved_until <= released_at))),
    CONSTRAINT release_event_reason_check CHECK ((reason = ANY (ARRAY['expired'::text, 'cancelled'::text])))
);


--
-- Name: TABLE release_event; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON TABLE real_estate.release_event IS 'One row per released reservation, keeping its previous holder and expiry';


--
-- Name: COLUMN release_event.reason; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON COLUMN real_estate.release_event.reason IS 'expired: released after its expiry (by the release, or taken over by reserve_property); cancelled: given back by its holder';


--
-- Name: release_events(bigint, integer); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_events(p_after_id bigint DEFAULT 0, p_limit integer DEFAULT 1000) RETURNS SETOF real_estate.release_event
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_start bigint;
    v_ids bigint[];
    v_upto bigint;
    v_floor bigint;
    v_purged bigint;
BEGIN
    IF p_after_id IS NULL OR p_after_id < 0 THEN
        RAISE EXCEPTION 'after id must be a non-negative integer, got %', coalesce(p_after_id::text, 'NULL')
            USING ERRCODE = 'RE010';
    ELSIF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 10000, got %', coalesce(p_limit::text, 'NULL')
            USING ERRCODE = 'RE010';
    ELSIF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'release_events() reads in READ COMMITTED only, not %', current_setting('transaction_isolation')
            USING ERRCODE = '0A000';
    END IF;

    v_start := p_after_id;
    IF p_after_id = 0 THEN  -- a new consumer: from the oldest event kept
        SELECT coalesce(max(p.purged_through), 0) INTO v_start FROM real_estate.release_event_purged AS p;
    END IF;
    v_ids := ARRAY(SELECT e.id FROM real_estate.release_event AS e
                    WHERE e.id > v_start ORDER BY e.id LIMIT p_limit);
    v_upto := v_ids[cardinality(v_ids)];
    IF v_upto - v_start > cardinality(v_ids) THEN
        -- Gaps: each id missing was drawn before that read. One at or above the floor of
        -- the running writers may still be committed: stop before the first such gap. One
        -- below is final (its writer ended: committed, the new read below sees it).
        v_floor := real_estate.release_event_floor();
        IF v_floor IS NOT NULL THEN
            SELECT coalesce(min(s.prev), v_upto) INTO v_upto
              FROM (SELECT u.id, coalesce(lag(u.id) OVER (ORDER BY u.n), v_start) AS prev
                      FROM unnest(v_ids) WITH ORDINALITY AS u(id, n)) AS s
             WHERE s.id > s.prev + 1 AND s.id > v_floor;
        END IF;
    END IF;

    RETURN QUERY
        SELECT e.*
          FROM real_estate.release_event AS e
         WHERE e.id > v_start AND e.id <= v_upto
         ORDER BY e.id
         LIMIT p_limit;

    -- Events after the cursor purged (before that read, or while the events were read):
    -- said, never skipped.
    IF p_after_id > 0 THEN
        SELECT coalesce(max(p.purged_through), 0) INTO v_purged FROM real_estate.release_event_purged AS p;
        IF v_purged > p_after_id THEN
            RAISE EXCEPTION 'release events after id % were purged up to id % (older than the log retention); ids from % on are kept',
                            p_after_id, v_purged, v_purged + 1
                USING ERRCODE = 'RE030',
                      HINT = format('Read again after id %s: nothing from there on was purged.', v_purged);
        END IF;
    END IF;
END;
$$;


--
-- Name: FUNCTION release_events(p_after_id bigint, p_limit integer); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_events(p_after_id bigint, p_limit integer) IS 'The release events after id p_after_id, in id order, at most p_limit (1 to 10000; RE010 otherwise, or when NULL or negative): what a consumer reads after its cursor (pyrelease.listen, pyrelease watch). No event is ever skipped, so a consumer may advance its cursor to the last id it got. Ids are given out at insert (CACHE 1: in time order) but become visible at commit, so a running transaction can hold a lower id than one already committed: every writer announces, before it draws its first id, the lowest id it may draw (release_event_announce_floor; the floors of the running transactions: release_event_floor, from pg_locks, which any role reads). When the ids read have a gap at or above the lowest floor, only the events before that gap are returned (the rest come once the writer ends: its commit notifies); a gap below every floor is final (rolled back, or never used) and passed: the events past it are read again in a new snapshot, which sees every writer that ended before the floors were read. A transaction that cannot fill a gap (all its ids are above it) never holds it back, however long it stays open. Purged events are never skipped silently: when the retention purge (purge_release_log) removed events after p_after_id, it raises RE030 (''release events after id N were purged up to id W ...; ids from W+1 on are kept''); p_after_id 0 is a new consumer: it gets the events still kept, from the oldest (real_estate.release_event_purged names what was purged), never RE030. On Citus the coordinator gives out every id and release_rows announces its writer''s floor there; events inserted by hand through the coordinator announce nothing. READ COMMITTED only (the second read needs its own snapshot): other isolation levels get SQLSTATE 0A000. Read-only, takes no lock beyond a normal read; not SECURITY DEFINER: it reads what the caller may read.';


--
-- Name: release_expired_reservations(integer); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_expired_reservations(p_batch_size integer DEFAULT 1000) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_pick record;
    v_batch record;
    v_run_id bigint;
    v_i integer := 1;
    v_j integer;
    v_released integer := 0;
    v_failed integer := 0;
    v_error text;
BEGIN
    PERFORM real_estate.check_batch_size(p_batch_size);

    -- Nothing expired (the steady state): one scan of the partial index, and nothing else
    -- to compile or plan. pg_cron runs each job in a new session, which pays for both.
    IF NOT EXISTS (SELECT 1 FROM real_estate.property AS p
                    WHERE p.status = 'RESERVED' AND p.reserved_until <= now()) THEN
        RETURN 0;
    END IF;

    -- The pick held in a record: its arrays stay flat, so that each batch's slice copies only
    -- the batch (an array variable is expanded, and each slice of it copied it whole).
    SELECT k.ctids, k.ids, k.project_ids, k.workspace_ids INTO v_pick FROM real_estate.release_pick() AS k;

    FOREACH v_j IN ARRAY real_estate.release_batch_ends(v_pick.workspace_ids, p_batch_size, real_estate.shard_bounds()) LOOP
        SELECT * INTO v_batch
          FROM real_estate.release_batch('call', v_run_id, v_pick.ctids[v_i:v_j], v_pick.ids[v_i:v_j],
                                         v_pick.project_ids[v_i:v_j], v_pick.workspace_ids[v_i:v_j]);
        v_run_id := v_batch.run_id;
        v_released := v_released + v_batch.released;
        v_failed := v_failed + v_batch.failed;
        v_error := coalesce(v_error, v_batch.error);
        v_i := v_j + 1;
    END LOOP;

    IF v_run_id IS NOT NULL THEN
        PERFORM real_estate.record_release_run(v_run_id, v_released, v_failed, v_error, true);
    END IF;
    RETURN v_released;
END;
$$;


--
-- Name: FUNCTION release_expired_reservations(p_batch_size integer); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_expired_reservations(p_batch_size integer) IS 'Releases every expired reservation (reserved_until <= now()) of ACTIVE workspaces, in batches of at most p_batch_size rows (RE010 unless positive), and returns how many it released. Runs in the caller''s transaction (the scheduled run, run_release_job, commits per batch instead). One pick (real_estate.release_pick, ordered by shard group, workspace, project and row) cut into batches of consecutive rows of one shard group (real_estate.release_batch_ends), each released in one statement (real_estate.release_batch), so each batch touches few counter rows and, on Citus, one worker (a call that releases in several shard groups commits on several workers: prefer the procedure there). Idempotent and safe under any concurrency: rows are locked FOR UPDATE SKIP LOCKED and re-checked under the lock, so concurrent runs split the work, a row (or a project counter) held elsewhere is left for the next run, each reservation is released and logged exactly once, and concurrent calls never deadlock. A row that cannot be released is recorded as a failure on the run and does not stop the others. Nothing expired: one scan of the partial index, and no run row written.';


--
-- Name: release_health(boolean); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_health(p_counters boolean DEFAULT true) RETURNS TABLE(healthy boolean, reason text, problems text[], backlog bigint, oldest_expired_seconds double precision, backlog_stale boolean, last_scheduled_run_finished_at timestamp with time zone, last_scheduled_run_age_seconds double precision, scheduled_run_stale boolean, run_in_progress boolean, waiting_for_first_run boolean, limit_seconds double precision, failed_rows bigint, counter_drift bigint, event_feed_held_back_seconds double precision, job_name text, job_schedule text, job_active boolean, job_interval_seconds double precision, job_registered_at timestamp with time zone, job_cron_database text, job_timezone text, checked_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
BEGIN
RETURN QUERY
WITH job AS (
    -- The job as registered; the limit is two intervals of its schedule, at least 5 minutes
    -- (5 minutes when no job is registered).
    SELECT s.job_name, s.schedule, s.active, s.cron_database, s.schedule_interval, s.registered_at,
           s.timezone,
           GREATEST(s.schedule_interval OPERATOR(pg_catalog.*) 2::pg_catalog.float8,
                    '5 minutes'::pg_catalog.interval) AS stale_after
      FROM (SELECT) AS one
      LEFT JOIN real_estate.release_schedule AS s ON s.singleton
), heartbeat AS (
    -- The heartbeat: the scheduled runs' one row (the last one that finished; one started
    -- after it within the limit is in progress), and the rows recent runs of any source
    -- failed to release.
    -- (Aggregates: one row, as the planner knows, whatever it guesses of the tables.)
    SELECT pg_catalog.max(b.finished_at) AS last_finished,
           COALESCE(pg_catalog.bool_or((b.started_at OPERATOR(pg_catalog.>) b.finished_at OR b.finished_at IS NULL)
                                       AND b.started_at OPERATOR(pg_catalog.>)
                                           (pg_catalog.now() OPERATOR(pg_catalog.-) j.stale_after)), false)
               AS in_progress,
           (SELECT COALESCE(pg_catalog.sum(r.failed), 0)
              FROM job AS f
              JOIN real_estate.release_run AS r
                ON r.started_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) f.stale_after))
               AS failed
      FROM job AS j
      LEFT JOIN real_estate.release_heartbeat AS b ON b.singleton
), settings AS (
    -- pg_cron's settings, for a role that may read them (superuser-only: the owner has
    -- pg_read_all_settings), else NULL; NULL too before pg_cron 1.5.
    SELECT CASE WHEN pg_catalog.pg_has_role('pg_read_all_settings', 'MEMBER')
                THEN pg_catalog.current_setting('cron.launch_active_jobs', true) END AS launch_active_jobs,
           CASE WHEN pg_catalog.pg_has_role('pg_read_all_settings', 'MEMBER')
                THEN pg_catalog.current_setting('cron.timezone', true) END AS timezone
), backlog AS (
    -- Expired reservations of ACTIVE workspaces not yet released (the partial index).
    SELECT pg_catalog.count(*) AS expired,
           pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(p.reserved_until) AS oldest_age
      FROM real_estate.property AS p
      JOIN real_estate.workspace AS w ON w.id OPERATOR(pg_catalog.=) p.workspace_id
     WHERE p.status OPERATOR(pg_catalog.=) 'RESERVED'
       AND p.reserved_until OPERATOR(pg_catalog.<=) pg_catalog.now()
       AND w.activation_status OPERATOR(pg_catalog.=) 'ACTIVE'
), drift AS (
    -- Projects whose available_plots differs from their AVAILABLE properties (rows written
    -- past the triggers); NULL, and not scanned, unless $1 (p_counters).
    SELECT CASE WHEN $1 THEN (
        SELECT pg_catalog.count(*)
          FROM real_estate.project AS pr
          LEFT JOIN (SELECT p.project_id, pg_catalog.count(*) AS n
                       FROM real_estate.property AS p
                      WHERE p.status OPERATOR(pg_catalog.=) 'AVAILABLE' AND p.project_id IS NOT NULL
                      GROUP BY p.project_id) AS c ON c.project_id OPERATOR(pg_catalog.=) pr.id
         WHERE pr.available_plots::pg_catalog.int8 OPERATOR(pg_catalog.<>) COALESCE(c.n, 0))
    END AS projects
), feed_floor AS MATERIALIZED (
    -- The event feed (release_events): the lowest event id a running writer may still commit,
    -- as real_estate.release_event_floor() decodes it from pg_locks (any role may read them);
    -- NULL when no transaction writes events. MATERIALIZED: read here, never on a worker.
    SELECT pg_catalog.min(((l.classid::pg_catalog.int8 OPERATOR(pg_catalog.&) 65535::pg_catalog.int8)
                               OPERATOR(pg_catalog.<<) 32)
                           OPERATOR(pg_catalog.|) l.objid::pg_catalog.int8) AS floor
      FROM pg_catalog.pg_locks AS l
     WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'
       AND l.objsubid OPERATOR(pg_catalog.=) 1::pg_catalog.int2
       AND l.granted
       AND (l.classid::pg_catalog.int8 OPERATOR(pg_catalog.>>) 16) OPERATOR(pg_catalog.=) 21061::pg_catalog.int8
       AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database AS d
                                               WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
       AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
), feed_run AS MATERIALIZED (
    -- The ids committed from the floor on (the first 1000): the first one missing is where
    -- every consumer stops until that writer ends.
    SELECT pg_catalog.array_agg(e.id ORDER BY e.id) AS ids
      FROM (SELECT e.id FROM real_estate.release_event AS e
             WHERE e.id OPERATOR(pg_catalog.>=) (SELECT f.floor FROM feed_floor AS f)
             ORDER BY e.id LIMIT 1000) AS e
), feed_gap AS MATERIALIZED (
    SELECT f.floor OPERATOR(pg_catalog.+) COALESCE(
               (SELECT pg_catalog.min(u.n) OPERATOR(pg_catalog.-) 1
                  FROM pg_catalog.unnest(r.ids) WITH ORDINALITY AS u(id, n)
                 WHERE u.id OPERATOR(pg_catalog.<>)
                       ((f.floor OPERATOR(pg_catalog.+) u.n) OPERATOR(pg_catalog.-) 1)),
               pg_catalog.cardinality(r.ids), 0) AS first_missing
      FROM feed_floor AS f, feed_run AS r
), feed AS MATERIALIZED (
    -- The first event committed past that gap: held back from every consumer since then.
    SELECT (SELECT e.released_at FROM real_estate.release_event AS e
             WHERE e.id OPERATOR(pg_catalog.>) (SELECT g.first_missing FROM feed_gap AS g)
             ORDER BY e.id LIMIT 1) AS held_back_since
), state AS (
    -- A job registered within the limit while no scheduled run has ever finished is waiting
    -- for its first run; a run in progress is not a missed one.
    SELECT j.*, h.*, b.*, d.projects, fe.held_back_since,
           c.launch_active_jobs OPERATOR(pg_catalog.=) 'off' AS launch_off, c.timezone AS cron_timezone,
           COALESCE(j.registered_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) j.stale_after)
                    AND h.last_finished IS NULL, false) AS waiting
      FROM job AS j, heartbeat AS h, settings AS c, backlog AS b, drift AS d, feed AS fe
), stale AS (
    SELECT s.*,
           s.job_name IS NOT NULL AND NOT s.waiting AND NOT s.in_progress
               AND (s.last_finished IS NULL
                    OR s.last_finished OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) s.stale_after))
               AS run_stale,
           NOT s.waiting AND s.expired OPERATOR(pg_catalog.>) 0
               AND s.oldest_age OPERATOR(pg_catalog.>) s.stale_after AS backlog_stale
      FROM state AS s
), ages AS (
    -- The ages the reasons name, written as `pyrelease status` writes them (45.0s, 20m00s, 3h02m).
    SELECT pg_catalog.max(f.text) FILTER (WHERE a.what OPERATOR(pg_catalog.=) 'limit') AS limit_text,
           pg_catalog.max(f.text) FILTER (WHERE a.what OPERATOR(pg_catalog.=) 'last') AS last_text,
           pg_catalog.max(f.text) FILTER (WHERE a.what OPERATOR(pg_catalog.=) 'oldest') AS oldest_text
      FROM stale AS s,
           LATERAL (VALUES ('limit', s.stale_after),
                           ('last', pg_catalog.now() OPERATOR(pg_catalog.-) s.last_finished),
                           ('oldest', s.oldest_age)) AS a(what, age),
           LATERAL (SELECT pg_catalog.date_part('epoch', a.age) AS seconds,
                           pg_catalog.floor(pg_catalog.date_part('epoch', a.age))::pg_catalog.int8 AS n) AS e,
           LATERAL (SELECT CASE
               WHEN a.age IS NULL THEN NULL
               WHEN e.seconds OPERATOR(pg_catalog.<) 120::pg_catalog.float8
                   THEN pg_catalog.to_char(e.seconds, 'FM9999999990.0') OPERATOR(pg_catalog.||) 's'
               WHEN e.n OPERATOR(pg_catalog.>=) 3600::pg_catalog.int8
                   THEN pg_catalog.format('%sh%sm', e.n OPERATOR(pg_catalog./) 3600::pg_catalog.int8,
                            pg_catalog.lpad(((e.n OPERATOR(pg_catalog.%) 3600::pg_catalog.int8)
                                             OPERATOR(pg_catalog./) 60::pg_catalog.int8)::pg_catalog.text, 2, '0'))
               ELSE pg_catalog.format('%sm%ss', e.n OPERATOR(pg_catalog./) 60::pg_catalog.int8,
                        pg_catalog.lpad((e.n OPERATOR(pg_catalog.%) 60::pg_catalog.int8)::pg_catalog.text, 2, '0'))
           END AS text) AS f
), verdict AS MATERIALIZED (
    SELECT s.*, ARRAY(
        SELECT v.problem
          FROM (VALUES
                (1, CASE WHEN s.job_name IS NULL
                             THEN 'no release job is scheduled (or pg_cron is missing)'
                         WHEN NOT s.active
                             THEN pg_catalog.format('job %L is inactive', s.job_name) END),
                (2, CASE WHEN s.launch_off
                             THEN 'pg_cron runs no job: cron.launch_active_jobs is off' END),
                (3, CASE WHEN s.job_name IS NOT NULL AND s.cron_timezone OPERATOR(pg_catalog.<>) s.timezone
                             THEN pg_catalog.format('job %L was registered for schedules read in %s, pg_cron'
                                                    ' reads them in %s (`pyrelease schedule` registers it again)',
                                                    s.job_name, s.timezone, s.cron_timezone) END),
                (4, CASE WHEN s.run_stale AND s.last_finished IS NULL
                             THEN 'no scheduled run has finished yet'
                         WHEN s.run_stale
                             THEN pg_catalog.format('last scheduled run finished %s ago (limit %s)',
                                                    a.last_text, a.limit_text) END),
                (5, CASE WHEN s.backlog_stale
                             THEN pg_catalog.format('%s expired reservation(s) waiting, oldest %s (limit %s)',
                                                    s.expired, a.oldest_text, a.limit_text) END),
                (6, CASE WHEN s.projects OPERATOR(pg_catalog.>) 0::pg_catalog.int8
                             THEN pg_catalog.format('counters: %s project(s) drifted (rows written past the'
                                                    ' triggers); as the owner run SELECT real_estate.repair_counters()',
                                                    s.projects) END)
               ) AS v(n, problem)
         WHERE v.problem IS NOT NULL
         ORDER BY v.n) AS problems
      FROM stale AS s, ages AS a
)
SELECT pg_catalog.cardinality(v.problems) OPERATOR(pg_catalog.=) 0 AS healthy,
       CASE WHEN pg_catalog.cardinality(v.problems) OPERATOR(pg_catalog.>) 0
                THEN pg_catalog.array_to_string(v.problems, '; ')
            WHEN v.waiting THEN 'ok: waiting for the first run'
            ELSE 'ok' END AS reason,
       v.problems,
       v.expired AS backlog,
       pg_catalog.date_part('epoch', v.oldest_age) AS oldest_expired_seconds,
       v.backlog_stale,
       v.last_finished AS last_scheduled_run_finished_at,
       pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) v.last_finished)
           AS last_scheduled_run_age_seconds,
       v.run_stale AS scheduled_run_stale,
       v.in_progress AS run_in_progress,
       v.waiting AS waiting_for_first_run,
       pg_catalog.date_part('epoch', v.stale_after) AS limit_seconds,
       v.failed AS failed_rows,
       v.projects AS counter_drift,
       COALESCE(pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) v.held_back_since),
                0::pg_catalog.float8) AS event_feed_held_back_seconds,
       v.job_name,
       v.schedule AS job_schedule,
       v.active AS job_active,
       pg_catalog.date_part('epoch', v.schedule_interval) AS job_interval_seconds,
       v.registered_at AS job_registered_at,
       v.cron_database AS job_cron_database,
       v.timezone AS job_timezone,
       pg_catalog.now() AS checked_at
  FROM verdict AS v;
END
$_$;


--
-- Name: release_pick(timestamp with time zone, timestamp with time zone, timestamp with time zone, integer); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_pick(p_after timestamp with time zone DEFAULT NULL::timestamp with time zone, p_above timestamp with time zone DEFAULT NULL::timestamp with time zone, p_up_to timestamp with time zone DEFAULT NULL::timestamp with time zone, p_limit integer DEFAULT NULL::integer, OUT picked_at timestamp with time zone, OUT ctids tid[], OUT ids uuid[], OUT project_ids uuid[], OUT workspace_ids uuid[], OUT scanned integer) RETURNS record
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET enable_bitmapscan TO 'off'
    SET enable_seqscan TO 'off'
    SET enable_sort TO 'off'
    SET work_mem TO '64MB'
    SET jit TO 'off'
    AS $$
DECLARE
    v_bounds integer[] := real_estate.shard_bounds();
    v_block bigint := current_setting('block_size')::bigint;
    -- A whole pick's windows: heap pages of an eighth of max_wal_size each (none in a table
    -- smaller than that).
    v_window bigint := pg_size_bytes(current_setting('max_wal_size')) / v_block / 8;
BEGIN
    IF p_limit IS NOT NULL OR p_up_to IS NOT NULL
       OR pg_relation_size('real_estate.property'::regclass) / v_block <= v_window THEN
        v_window := NULL;
    END IF;
    picked_at := now();
    -- p_after is a filter (IS NOT FALSE), not an index condition: the scan still walks (and
    -- marks dead) the entries before it.
    -- The rows of the range first, from the partial index alone (a subquery with a LIMIT
    -- is planned on its own): joined to workspace first, the planner could read them
    -- workspace by workspace along property_release_pick_idx instead, which marks nothing
    -- dead in this index.
    SELECT coalesce(array_agg(c.row_ctid) FILTER (WHERE c.active), '{}'),
           coalesce(array_agg(c.id) FILTER (WHERE c.active), '{}'),
           coalesce(array_agg(c.project_id) FILTER (WHERE c.active), '{}'),
           coalesce(array_agg(c.workspace_id) FILTER (WHERE c.active), '{}'),
           count(*)::integer
      INTO ctids, ids, project_ids, workspace_ids, scanned
      FROM (SELECT o.*, w.activation_status = 'ACTIVE' AS active
              FROM (SELECT p.ctid AS row_ctid, p.id, p.project_id, p.workspace_id
                      FROM real_estate.property AS p
                     WHERE p.status = 'RESERVED'
                       AND p.reserved_until >= coalesce(p_above, '-infinity'::timestamptz)
                       AND p.reserved_until IS DISTINCT FROM p_above  -- (p_above is exclusive)
                       AND p.reserved_until <= least(coalesce(p_up_to, 'infinity'::timestamptz), now())
                       AND (p.reserved_until > p_after) IS NOT FALSE
                     ORDER BY p.reserved_until  -- the index's order: no sort
                     LIMIT p_limit) AS o
              JOIN real_estate.workspace AS w ON w.id = o.workspace_id
             ORDER BY width_bucket(uuid_hash(o.workspace_id), v_bounds),
                      CASE WHEN v_window IS NOT NULL THEN floor((o.row_ctid::text::point)[0] / v_window) END,
                      o.workspace_id, o.project_id, o.row_ctid) AS c;
END;
$$;


--
-- Name: FUNCTION release_pick(p_after timestamp with time zone, p_above timestamp with time zone, p_up_to timestamp with time zone, p_limit integer, OUT picked_at timestamp with time zone, OUT ctids tid[], OUT ids uuid[], OUT project_ids uuid[], OUT workspace_ids uuid[], OUT scanned integer); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_pick(p_after timestamp with time zone, p_above timestamp with time zone, p_up_to timestamp with time zone, p_limit integer, OUT picked_at timestamp with time zone, OUT ctids tid[], OUT ids uuid[], OUT project_ids uuid[], OUT workspace_ids uuid[], OUT scanned integer) IS 'A pick of a release run: the expired reservations (reserved_until <= now()) of ACTIVE workspaces, read oldest first through the partial index property_reserved_until_idx, returned as parallel arrays (row versions'' ctids, property ids, projects, workspaces) ordered by shard group (real_estate.shard_bounds(); one group on a single node), workspace, project and row, so that consecutive rows cut into batches touch few workspaces and counter rows and no batch spans two shard groups. A whole pick (no p_limit, no p_up_to: the function''s) of a table larger than an eighth of max_wal_size is first ordered by window of the heap, each that large: a window''s batches revisit its pages (a page holds rows of several projects) close together, before the next checkpoint, after which the next change to each of them would write it in full to the WAL again (at 10M properties with max_wal_size 1GB: a quarter less WAL than the function wrote without windows). p_above (exclusive) and p_up_to bound the expiries read; p_limit stops after that many rows (scanned counts them, those of workspaces that are not ACTIVE included); with p_after only reservations that expired after it are returned (a filter, not a bound: the scan still walks its whole range). The scan is a plain index scan (bitmap, sequential scans and sorts disabled): one that meets the entries of rows released and committed before it marks them dead, so the runs after the scheduled run''s last pick do not visit them. Takes no lock: each batch re-checks its rows under FOR UPDATE SKIP LOCKED.';


--
-- Name: release_pick_bounds(timestamp with time zone[], integer); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_pick_bounds(p_expiries timestamp with time zone[], p_every integer) RETURNS timestamp with time zone[]
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT coalesce(array_agg(b.expiry ORDER BY b.expiry), '{}')
      FROM (SELECT x.expiry, row_number() OVER (ORDER BY x.expiry) AS n
              FROM unnest(p_expiries) AS x(expiry)) AS b
     WHERE b.n % p_every = 0;
$$;


--
-- Name: FUNCTION release_pick_bounds(p_expiries timestamp with time zone[], p_every integer); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_pick_bounds(p_expiries timestamp with time zone[], p_every integer) IS 'The slices of the scheduled run''s last pick after a large backlog: every p_every-th of the given expiries (those of the rows the run picked), ascending. Read between consecutive bounds (release_pick''s p_above and p_up_to), each slice of the partial index holds about p_every entries of the rows the run released, so that each read of the last pick is short. Immutable: reads no table.';


--
-- Name: release_pick_chunk(integer, uuid, timestamp with time zone, uuid, integer); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_pick_chunk(p_limit integer, p_after_workspace_id uuid DEFAULT NULL::uuid, p_after_reserved_until timestamp with time zone DEFAULT NULL::timestamp with time zone, p_after_id uuid DEFAULT NULL::uuid, p_sample_every integer DEFAULT 1, OUT ctids tid[], OUT ids uuid[], OUT project_ids uuid[], OUT workspace_ids uuid[], OUT expiry_sample timestamp with time zone[], OUT scanned integer, OUT last_workspace_id uuid, OUT last_reserved_until timestamp with time zone, OUT last_id uuid) RETURNS record
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET enable_bitmapscan TO 'off'
    SET enable_seqscan TO 'off'
    AS $$
DECLARE
    v_bounds integer[] := real_estate.shard_bounds();
BEGIN
    -- ROW(...) >= ROW(lowest key) takes every row (workspace_id is NOT NULL and so is a
    -- reservation's expiry); after a key, the row of that key itself is left out by id.
    WITH slice AS MATERIALIZED (
        SELECT p.ctid AS row_ctid, p.id, p.project_id, p.workspace_id, p.reserved_until
          FROM real_estate.property AS p
         WHERE p.status = 'RESERVED'
           AND ROW(p.workspace_id, p.reserved_until, p.id)
               >= ROW(coalesce(p_after_workspace_id, '00000000-0000-0000-0000-000000000000'::uuid),
                      coalesce(p_after_reserved_until, '-infinity'::timestamptz),
                      coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'::uuid))
           AND p.reserved_until <= now()
           AND p.id IS DISTINCT FROM p_after_id
         ORDER BY p.workspace_id, p.reserved_until, p.id
         LIMIT p_limit
    )
    SELECT a.ctids, a.ids, a.project_ids, a.workspace_ids, a.expiry_sample,
           (SELECT count(*) FROM slice)::integer, l.workspace_id, l.reserved_until, l.id
      INTO ctids, ids, project_ids, workspace_ids, expiry_sample,
           scanned, last_workspace_id, last_reserved_until, last_id
      FROM (SELECT coalesce(array_agg(c.row_ctid), '{}') AS ctids,
                   coalesce(array_agg(c.id), '{}') AS ids,
                   coalesce(array_agg(c.project_id), '{}') AS project_ids,
                   coalesce(array_agg(c.workspace_id), '{}') AS workspace_ids,
                   coalesce(array_agg(c.reserved_until) FILTER (WHERE c.n % p_sample_every = 0), '{}')
                       AS expiry_sample
              FROM (SELECT s.*, row_number() OVER (ORDER BY width_bucket(uuid_hash(s.workspace_id), v_bounds),
                                                     s.workspace_id, s.project_id, s.row_ctid) AS n
                      FROM slice AS s
                      JOIN real_estate.workspace AS w ON w.id = s.workspace_id
                     WHERE w.activation_status = 'ACTIVE'
                     ORDER BY width_bucket(uuid_hash(s.workspace_id), v_bounds), s.workspace_id,
                              s.project_id, s.row_ctid) AS c) AS a
      LEFT JOIN LATERAL (SELECT s.workspace_id, s.reserved_until, s.id
                           FROM slice AS s
                          ORDER BY s.workspace_id DESC, s.reserved_until DESC, s.id DESC
                          LIMIT 1) AS l ON true;
END;
$$;


--
-- Name: FUNCTION release_pick_chunk(p_limit integer, p_after_workspace_id uuid, p_after_reserved_until timestamp with time zone, p_after_id uuid, p_sample_every integer, OUT ctids tid[], OUT ids uuid[], OUT project_ids uuid[], OUT workspace_ids uuid[], OUT expiry_sample timestamp with time zone[], OUT scanned integer, OUT last_workspace_id uuid, OUT last_reserved_until timestamp with time zone, OUT last_id uuid); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_pick_chunk(p_limit integer, p_after_workspace_id uuid, p_after_reserved_until timestamp with time zone, p_after_id uuid, p_sample_every integer, OUT ctids tid[], OUT ids uuid[], OUT project_ids uuid[], OUT workspace_ids uuid[], OUT expiry_sample timestamp with time zone[], OUT scanned integer, OUT last_workspace_id uuid, OUT last_reserved_until timestamp with time zone, OUT last_id uuid) IS 'One slice of the scheduled run''s pick of a large backlog: the next p_limit expired reservations (reserved_until <= now()) after the key (workspace_id, reserved_until, id) given (all NULL: from the start), in that order, read as a range of the partial index property_release_pick_idx (not a walk of the whole expired range), so that each slice is a short read-only transaction of its own whatever the backlog. Returns those of ACTIVE workspaces as real_estate.release_pick does (parallel arrays ordered by shard group, workspace, project and row), the expiry of every p_sample_every-th of them (where the run''s last pick is cut), how many rows it read (fewer than p_limit: the pick is complete) and the key of the last one, to resume after. Takes no lock: each batch re-checks its rows under FOR UPDATE SKIP LOCKED.';


--
-- Name: release_reservation(uuid); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_reservation(p_property_id uuid) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN real_estate.end_reservation(NULL, p_property_id, NULL);
END;
$$;


--
-- Name: FUNCTION release_reservation(p_property_id uuid); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_reservation(p_property_id uuid) IS 'The precise single release (what a per-reservation delayed job does): returns true when it released the property''s reservation, false when the property is unknown, not reserved, not yet expired (reserved_until > now()) or its workspace is not ACTIVE (RE010 when p_property_id is NULL). Waits for a row lock held elsewhere, then decides on the row as committed, so a reservation is never released twice and a property sold meanwhile is left alone; the release is logged (one expired release event, in a call run of its own). Idempotent: a second call returns false. On Citus the workspace is looked up on every shard first; release_reservation_in_workspace skips that.';


--
-- Name: release_reservation_in_workspace(uuid, uuid); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_reservation_in_workspace(p_workspace_id uuid, p_property_id uuid) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN real_estate.end_reservation(real_estate.not_null(p_workspace_id, 'workspace id'), p_property_id, NULL);
END;
$$;


--
-- Name: FUNCTION release_reservation_in_workspace(p_workspace_id uuid, p_property_id uuid); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_reservation_in_workspace(p_workspace_id uuid, p_property_id uuid) IS 'release_reservation for a caller who knows the property''s workspace: the same result (false also when the property is not in that workspace; RE010 for a NULL workspace or property id) and concurrency. Every statement names the workspace, so once the tables are distributed (Citus) the release is routed to the one worker that holds it; the run row is written on the coordinator.';


--
-- Name: release_rows(bigint, text, uuid[], tid[], uuid[]); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.release_rows(p_run_id bigint, p_reason text, p_workspace_ids uuid[], p_ctids tid[], p_project_ids uuid[] DEFAULT NULL::uuid[]) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_ids uuid[];
    v_workspaces uuid[];
    v_projects uuid[];
    v_holders uuid[];
    v_untils timestamptz[];
    v_rows text[];
    v_min bigint;
    v_max bigint;
    v_count bigint;
BEGIN
    WITH locked_project AS (
        SELECT pr.id
          FROM real_estate.project AS pr
         WHERE pr.workspace_id = ANY (p_workspace_ids)
           AND pr.id = ANY (p_project_ids)
         ORDER BY pr.id
           FOR NO KEY UPDATE SKIP LOCKED
    ), target AS (
        SELECT p.ctid AS row_ctid, p.id, p.workspace_id, p.project_id, p.reserved_by_id, p.reserved_until
          FROM real_estate.property AS p
         WHERE p.ctid = ANY (p_ctids)
           AND p.workspace_id = ANY (p_workspace_ids)
           AND p.status = 'RESERVED'
           AND (p.reserved_until <= now() OR p_reason = 'cancelled')
           AND (p_project_ids IS NULL OR p.project_id IS NULL
                OR p.project_id IN (SELECT l.id FROM locked_project AS l))
           FOR UPDATE OF p SKIP LOCKED
    ), done AS (
        UPDATE real_estate.property AS p
           SET status = 'AVAILABLE', reserved_by_id = NULL, reserved_until = NULL
          FROM target AS t
         WHERE p.ctid = t.row_ctid  -- the version just locked
           AND p.workspace_id = ANY (p_workspace_ids)
        RETURNING t.id, t.workspace_id, t.project_id, t.reserved_by_id, t.reserved_until
    )
    SELECT array_agg(d.id), array_agg(d.workspace_id), array_agg(d.project_id),
           array_agg(d.reserved_by_id), array_agg(d.reserved_until)
      INTO v_ids, v_workspaces, v_projects, v_holders, v_untils
      FROM done AS d;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;

    IF cardinality(real_estate.shard_bounds()) = 0 THEN
        INSERT INTO real_estate.release_event
            (run_id, property_id, workspace_id, project_id, reserved_by_id, reserved_until, released_at, reason)
        SELECT p_run_id, u.id, u.workspace_id, u.project_id, u.reserved_by_id, u.reserved_until, now(), p_reason
          FROM unnest(v_ids, v_workspaces, v_projects, v_holders, v_untils)
               AS u(id, workspace_id, project_id, reserved_by_id, reserved_until);
    ELSE
        -- Citus: the same rows as one INSERT ... VALUES (each value a quoted literal), which
        -- the coordinator routes to the group's worker after giving out the ids from its own
        -- sequence (so ids keep their commit order for release_events()); an INSERT ...
        -- SELECT would be sent as a COPY, which always commits in two phases.
        v_rows := ARRAY(SELECT format('(%s, %L::uuid, %L::uuid, %L::uuid, %L::uuid, %L::timestamptz, now(), %L)',
                                      p_run_id, u.id, u.workspace_id, u.project_id, u.reserved_by_id,
                                      u.reserved_until, p_reason)
                          FROM unnest(v_ids, v_workspaces, v_projects, v_holders, v_untils)
                               AS u(id, workspace_id, project_id, reserved_by_id, reserved_until));
        -- The events' triggers fire on the worker, after the ids were given out here: the
        -- floor (release_events) is announced here first, and the notification after.
        PERFORM real_estate.release_event_announce_floor();
        EXECUTE 'WITH e AS (INSERT INTO real_estate.release_event (run_id, property_id, workspace_id,'
                ' project_id, reserved_by_id, reserved_until, released_at, reason) VALUES '
                || array_to_string(v_rows, ', ')
                || ' RETURNING id) SELECT min(e.id), max(e.id), count(*) FROM e'
           INTO v_min, v_max, v_count;
        PERFORM real_estate.release_event_notify_arm(v_min, v_max, v_count);
    END IF;
    RETURN cardinality(v_ids);
END;
$$;


--
-- Name: FUNCTION release_rows(p_run_id bigint, p_reason text, p_workspace_ids uuid[], p_ctids tid[], p_project_ids uuid[]); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.release_rows(p_run_id bigint, p_reason text, p_workspace_ids uuid[], p_ctids tid[], p_project_ids uuid[]) IS 'The one place a reservation is ended: releases those of the row versions p_ctids (of the workspaces p_workspace_ids) that are still RESERVED and, for p_reason ''expired'', expired (reserved_until <= now()), or for ''cancelled'' whatever their expiry, and logs one release_event each (previous holder and expiry, reason p_reason, run p_run_id); returns how many. Rows are locked FOR UPDATE SKIP LOCKED and checked under the lock, so a row is released at most once, a row another transaction holds is left alone (callers that must wait lock it first: a row the caller holds is never skipped), and a row changed meanwhile (a new version) is not touched. With p_project_ids, the counter rows of those projects are locked FOR NO KEY UPDATE SKIP LOCKED first and only rows of locked projects (or of none) are released, so the counter trigger never waits. Callers pass only the workspaces whose rows may be released (the ACTIVE ones for an expiry). Every statement names the workspaces: on Citus, given the workspaces of one shard group, it runs on the one worker holding it, and the events are sent as one INSERT ... VALUES whose ids the coordinator gives out (commit-ordered for release_events()), their writer''s floor announced on the coordinator before the ids are given out (release_event_announce_floor, for release_events()) and their NOTIFY armed there after (release_event_notify_arm), where the readers and listeners are. Not SECURITY DEFINER (it builds that INSERT as text, every value a quoted literal): only the owner''s SECURITY DEFINER routines call it.';


--
-- Name: repair_counters(); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.repair_counters() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_project_ids uuid[];
    v_workspace_ids uuid[];
    v_deltas integer[];
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'repair_counters() needs READ COMMITTED, not %', current_setting('transaction_isolation')
            USING ERRCODE = 'RE010';
    END IF;

    SELECT array_agg(pr.id ORDER BY pr.id) INTO v_project_ids
      FROM real_estate.project AS pr
     WHERE pr.available_plots <> (SELECT count(*) FROM real_estate.property AS p
                                   WHERE p.project_id = pr.id AND p.status = 'AVAILABLE');
    IF v_project_ids IS NULL THEN
        RETURN 0;
    END IF;

    -- Under the lock, with this statement's new snapshot: a writer still in flight adds its
    -- own delta after this commits.
    PERFORM 1 FROM real_estate.project AS pr
     WHERE pr.id = ANY (v_project_ids)
     ORDER BY pr.id
       FOR NO KEY UPDATE;
    SELECT array_agg(c.id ORDER BY c.id), array_agg(c.delta ORDER BY c.id), array_agg(DISTINCT c.workspace_id)
      INTO v_project_ids, v_deltas, v_workspace_ids
      FROM (SELECT pr.id, pr.workspace_id,
                   (SELECT count(*) FROM real_estate.property AS p
                     WHERE p.project_id = pr.id AND p.status = 'AVAILABLE')::integer - pr.available_plots AS delta
              FROM real_estate.project AS pr
             WHERE pr.id = ANY (v_project_ids)) AS c
     WHERE c.delta <> 0;
    IF v_project_ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM real_estate.apply_counter_deltas(v_workspace_ids, v_project_ids, v_deltas);
    RETURN cardinality(v_project_ids);
END;
$$;


--
-- Name: FUNCTION repair_counters(); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.repair_counters() IS 'Sets every project''s available_plots back to its number of AVAILABLE properties, for rows written past the triggers (session_replication_role = replica: logical replication, pg_restore, bulk loads), the drift check_invariants() reports as counter_drift, and returns the number of projects it corrected (0: none drifted). Locks the drifted projects'' counter rows in id order (FOR NO KEY UPDATE, as the counter trigger does, so it cannot deadlock with writers, and waits for a writer holding them), then counts with a new snapshot: a writer still in flight adds its own delta after this commits. The corrections go through apply_counter_deltas, the counter trigger''s own announced write, so the counter guard lets exactly them through: a host trigger changing a counter again makes it fail (RE011) and nothing is kept. Owner only (not granted to real_estate_app or real_estate_reader); READ COMMITTED only (a REPEATABLE READ snapshot could miss committed property changes: RE010). Idempotent: a second call returns 0.';


--
-- Name: reserve(uuid, uuid, uuid, interval); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.reserve(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) RETURNS timestamp with time zone
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_row record;
    v_reserved_until timestamptz;
BEGIN
    PERFORM real_estate.not_null(p_reserved_by_id, 'reserved_by id');
    v_reserved_until := real_estate.expiry_after(p_ttl);
    SELECT * INTO v_row FROM real_estate.lock_property(p_workspace_id, p_property_id, 'active') AS l;

    IF v_row.status = 'SOLD' THEN
        RAISE EXCEPTION 'property % is sold', p_property_id
            USING ERRCODE = 'RE002';
    ELSIF v_row.status = 'RESERVED' AND v_row.reserved_until > now() THEN
        RAISE EXCEPTION 'property % is reserved until %', p_property_id, v_row.reserved_until
            USING ERRCODE = 'RE003';
    ELSIF v_row.status = 'RESERVED' THEN
        PERFORM real_estate.end_reservation(v_row.workspace_id, p_property_id, NULL);
    END IF;

    UPDATE real_estate.property AS p
       SET status = 'RESERVED', reserved_by_id = p_reserved_by_id, reserved_until = v_reserved_until
     WHERE p.workspace_id = v_row.workspace_id
       AND p.id = p_property_id;
    RETURN v_reserved_until;
END;
$$;


--
-- Name: FUNCTION reserve(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid, p_ttl interval); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.reserve(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) IS 'The one body of reserve_property (p_workspace_id NULL: the workspace is looked up) and reserve_property_in_workspace: reserves an AVAILABLE property for p_ttl and returns the new reserved_until (now() + p_ttl); a reservation that has expired is taken over atomically, released and logged first (end_reservation) in the same transaction. The row is found and locked FOR UPDATE by real_estate.lock_property and decided under the lock, so of two concurrent reservations of a property exactly one wins and the other gets RE003. Errors: RE001 no such property (in that workspace), RE002 SOLD, RE003 held by an unexpired reservation (the message ends in its reserved_until), RE004 workspace not ACTIVE, RE010 a NULL id or a p_ttl that is not a positive interval. Every statement names the workspace: on Citus the reservation is a single-worker transaction (a takeover also writes its run row on the coordinator).';


--
-- Name: reserve_property(uuid, uuid, interval); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.reserve_property(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval DEFAULT '24:00:00'::interval) RETURNS timestamp with time zone
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN real_estate.reserve(NULL, p_property_id, p_reserved_by_id, p_ttl);
END;
$$;


--
-- Name: FUNCTION reserve_property(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.reserve_property(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) IS 'Reserves an AVAILABLE property for p_ttl (default 24 hours) and returns the new reserved_until (now() + p_ttl); a reservation that has expired is taken over atomically (released and logged as an expired release event, then reserved). Raises RE001 no such property, RE002 SOLD, RE003 held by an unexpired reservation (message ends in its reserved_until), RE004 workspace not ACTIVE, RE010 NULL argument or a p_ttl that is not a positive interval. The row is locked FOR UPDATE: of two concurrent reservations exactly one wins, the other gets RE003. On Citus the workspace is looked up on every shard first; reserve_property_in_workspace skips that.';


--
-- Name: reserve_property_in_workspace(uuid, uuid, uuid, interval); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.reserve_property_in_workspace(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid, p_ttl interval DEFAULT '24:00:00'::interval) RETURNS timestamp with time zone
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN real_estate.reserve(real_estate.not_null(p_workspace_id, 'workspace id'), p_property_id,
                               p_reserved_by_id, p_ttl);
END;
$$;


--
-- Name: FUNCTION reserve_property_in_workspace(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid, p_ttl interval); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.reserve_property_in_workspace(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) IS 'reserve_property for a caller who knows the property''s workspace: the same result, errors (RE001 also when the property is not in that workspace, RE010 also for a NULL workspace) and concurrency. Every statement names the workspace, the distribution column once the tables are distributed (Citus): the reservation is then a single-shard transaction on the one worker that holds the workspace (a takeover of an expired reservation also writes its run row on the coordinator). On a single node it costs what reserve_property costs.';


--
-- Name: run_release_job(integer, interval); Type: PROCEDURE; Schema: real_estate; Owner: -
--

CREATE PROCEDURE real_estate.run_release_job(IN p_batch_size integer DEFAULT 250, IN p_retention interval DEFAULT '30 days'::interval)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_ctids pg_catalog.tid[];
    v_ids pg_catalog.uuid[];
    v_projects pg_catalog.uuid[];
    v_workspaces pg_catalog.uuid[];
    v_untils pg_catalog.timestamptz[];
    v_bounds pg_catalog.int4[];
    v_cuts pg_catalog.timestamptz[];
    v_ends pg_catalog.int4[];
    v_got_ctids pg_catalog.tid[];
    v_got_ids pg_catalog.uuid[];
    v_got_projects pg_catalog.uuid[];
    v_got_workspaces pg_catalog.uuid[];
    v_sample pg_catalog.timestamptz[];
    v_scanned integer;
    v_batch pg_catalog.record;
    v_window_rows pg_catalog.record;
    v_after pg_catalog.timestamptz;
    v_key_workspace pg_catalog.uuid;
    v_key_until pg_catalog.timestamptz;
    v_key_id pg_catalog.uuid;
    v_run_id bigint;
    v_started pg_catalog.timestamptz := pg_catalog.clock_timestamp();
    v_slice integer;
    v_every integer;
    v_window integer;
    v_phase integer;
    v_n integer;
    v_k integer := 0;
    v_i integer;
    v_j integer;
BEGIN
    PERFORM real_estate.check_batch_size(p_batch_size);
    PERFORM real_estate.release_cutoff(p_retention);

    v_bounds := real_estate.shard_bounds();
    -- Rows per read-only transaction of a pick (10-20 ms each at 1,000 on a 2-core machine),
    -- the expiries sampled from each (about 100), rows released per window of slices.
    v_slice := least(p_batch_size::pg_catalog.int8 OPERATOR(pg_catalog.*) 4, 1000)::pg_catalog.int4;
    v_every := greatest(v_slice OPERATOR(pg_catalog./) 100, 1);
    v_window := v_slice OPERATOR(pg_catalog.*) 50;

    -- Phase 1: the first pick; 2: a large backlog, window after window of slices; 3: the
    -- last pick; 4: done. Each phase's rows are then released batch by batch.
    v_phase := 1;
    WHILE v_phase OPERATOR(pg_catalog.<) 4 LOOP
        IF v_phase OPERATOR(pg_catalog.=) 1 THEN
            SELECT k.picked_at, k.ctids, k.ids, k.project_ids, k.workspace_ids, k.scanned
              INTO v_after, v_ctids, v_ids, v_projects, v_workspaces, v_n
              FROM real_estate.release_pick(p_limit => v_slice OPERATOR(pg_catalog.+) 1) AS k;
            -- Work to do: the heartbeat says so before the first batch (a long run is in
            -- progress, not missed); the run's row comes with the first release.
            IF v_n OPERATOR(pg_catalog.>) 0 THEN
                PERFORM real_estate.record_release_heartbeat(v_started, false);
            END IF;
            COMMIT;
            -- Nothing to release at all: the steady state stays one scan.
            EXIT WHEN v_n OPERATOR(pg_catalog.=) 0;
            IF v_n OPERATOR(pg_catalog.>) v_slice THEN
                v_phase := 2;  -- a large backlog: read it again, slice by slice
                v_ctids := '{}';
                v_untils := '{}';
            ELSE
                v_phase := 3;
            END IF;
        ELSE
            -- Phases 2 and 3 read slice after slice, each slice its own read-only
            -- transaction, into one window of rows.
            v_ctids := '{}'; v_ids := '{}'; v_projects := '{}'; v_workspaces := '{}';
            LOOP
                IF v_phase OPERATOR(pg_catalog.=) 2 THEN
                    -- The next slice, and the key to resume after.
                    SELECT k.ctids, k.ids, k.project_ids, k.workspace_ids, k.expiry_sample,
                           k.scanned, k.last_workspace_id, k.last_reserved_until, k.last_id
                      INTO v_got_ctids, v_got_ids, v_got_projects, v_got_workspaces, v_sample,
                           v_scanned, v_key_workspace, v_key_until, v_key_id
                      FROM real_estate.release_pick_chunk(v_slice, v_key_workspace, v_key_until,
                                                          v_key_id, v_every) AS k;
                ELSE
                    v_k := v_k OPERATOR(pg_catalog.+) 1;
                    SELECT k.ctids, k.ids, k.project_ids, k.workspace_ids
                      INTO v_got_ctids, v_got_ids, v_got_projects, v_got_workspaces
                      FROM real_estate.release_pick(v_after, v_cuts[v_k OPERATOR(pg_catalog.-) 1],
                                                    v_cuts[v_k]) AS k;
                END IF;
                COMMIT;
                v_ctids := v_ctids OPERATOR(pg_catalog.||) v_got_ctids;
                v_ids := v_ids OPERATOR(pg_catalog.||) v_got_ids;
                v_projects := v_projects OPERATOR(pg_catalog.||) v_got_projects;
                v_workspaces := v_workspaces OPERATOR(pg_catalog.||) v_got_workspaces;
                IF v_phase OPERATOR(pg_catalog.=) 3 THEN
                    -- The last pick's slices end at the sampled bounds, then past the last.
                    IF v_k OPERATOR(pg_catalog.>) coalesce(pg_catalog.cardinality(v_cuts), 0) THEN
                        v_phase := 4;
                        EXIT;
                    END IF;
                    CONTINUE;
                END IF;
                v_untils := v_untils OPERATOR(pg_catalog.||) v_sample;
                IF v_scanned OPERATOR(pg_catalog.<) v_slice THEN
                    -- The pick is complete. The last pick's slices: about v_slice rows each.
                    v_cuts := real_estate.release_pick_bounds(v_untils,
                                                              v_slice OPERATOR(pg_catalog./) v_every);
                    v_phase := 3;
                    EXIT;
                END IF;
                -- A full window is released before the pick goes on (the arrays stay small).
                EXIT WHEN pg_catalog.cardinality(v_ctids) OPERATOR(pg_catalog.>=) v_window;
            END LOOP;
        END IF;
        v_ends := real_estate.release_batch_ends(v_workspaces, p_batch_size, v_bounds);
        -- The window in a record: its arrays flat, so that each batch's slice copies only the
        -- batch (an array variable is expanded, and each slice of it copied it whole).
        SELECT v_ctids AS ctids, v_ids AS ids, v_projects AS project_ids, v_workspaces AS workspace_ids
          INTO v_window_rows;
        v_i := 1;
        FOREACH v_j IN ARRAY v_ends LOOP
            -- Citus: concurrent runs split the shard groups, a batch taking its group for its
            -- transaction; a group another run holds is left to it (or to the next run).
            IF pg_catalog.cardinality(v_bounds) OPERATOR(pg_catalog.=) 0
               OR pg_catalog.pg_try_advisory_xact_lock(1920430,
                      pg_catalog.width_bucket(pg_catalog.uuid_hash(v_workspaces[v_i]), v_bounds)) THEN
                SELECT * INTO v_batch
                  FROM real_estate.release_batch('pg_cron', v_run_id, v_window_rows.ctids[v_i:v_j],
                                                 v_window_rows.ids[v_i:v_j], v_window_rows.project_ids[v_i:v_j],
                                                 v_window_rows.workspace_ids[v_i:v_j]);
                IF v_batch.run_id IS NOT NULL THEN
                    v_run_id := v_batch.run_id;
                    PERFORM real_estate.record_release_run(v_run_id, v_batch.released, v_batch.failed,
                        v_batch.error, false);
                END IF;
            END IF;
            COMMIT;
            v_i := v_j OPERATOR(pg_catalog.+) 1;
        END LOOP;
    END LOOP;

    PERFORM real_estate.purge_release_log(p_retention);
    IF v_run_id IS NOT NULL THEN
        PERFORM real_estate.record_release_run(v_run_id, 0, 0, NULL, true);
    END IF;
    PERFORM real_estate.record_release_heartbeat(v_started, true);
    COMMIT;
END;
$$;


--
-- Name: PROCEDURE run_release_job(IN p_batch_size integer, IN p_retention interval); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON PROCEDURE real_estate.run_release_job(IN p_batch_size integer, IN p_retention interval) IS 'What pg_cron runs (CALL real_estate.run_release_job()): the release of release_expired_reservations (same promises: SKIP LOCKED, each reservation released and logged once, failures recorded, never waits on rows or counters held elsewhere, concurrent runs share the work) in batches of p_batch_size (default 250: each batch holds its projects'' counter rows until it commits), COMMITTING AFTER EVERY BATCH, so that no lock is held longer than one batch. Recorded in the one-row heartbeat (real_estate.release_heartbeat, through record_release_heartbeat: when it started, committed before its first batch when there is work to do, and when it finished), and as a pg_cron run in release_run only when a batch released or failed something (the row comes with that batch: a run killed midway after it stays visible, finished_at NULL): a run with nothing to release writes the heartbeat and nothing else, so a schedule in seconds leaves nothing that grows. A backlog of at most one slice (4 batches, at most 1,000 rows) is one pick; a larger one is read in slices of that size along property_release_pick_idx (release_pick_chunk), each its own short read-only transaction, and released window by window (50 slices). Then, once the batches have committed, a last pick over the partial index in slices cut at a sample of the released rows'' expiries: it marks their index entries dead (the next run does not visit them) and releases what expired while the run went on. Rows a pick took but could not release are the next run''s. Batches never span two shard groups; on Citus each commits on one worker, and concurrent runs split the shard groups (a transaction-level advisory lock per group and batch: a group another run is releasing is left to it). Then purges the log rows older than p_retention (purge_release_log; RE010 for a bad batch size or retention, before anything is released). A procedure that commits can be neither SECURITY DEFINER nor carry a SET clause: every name in it is schema-qualified and every operator pg_catalog''s, and the work is done by functions with a pinned search_path.';


--
-- Name: shard_bounds(); Type: FUNCTION; Schema: real_estate; Owner: -
--

CREATE FUNCTION real_estate.shard_bounds() RETURNS integer[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF to_regclass('pg_catalog.pg_dist_shard') IS NULL THEN
        RETURN '{}'::integer[];
    END IF;
    -- Citus's catalog, read only where it exists (a statement is planned when first run).
    RETURN ARRAY(SELECT s.shardminvalue::integer
                   FROM pg_catalog.pg_dist_shard AS s
                  WHERE s.logicalrelid = 'real_estate.property'::regclass
                  ORDER BY 1);
END;
$$;


--
-- Name: FUNCTION shard_bounds(); Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON FUNCTION real_estate.shard_bounds() IS 'The lowest hash value of each shard of real_estate.property once it is a Citus distributed table (pyrelease distribute), ascending; an empty array on a single node or without Citus. The release groups its rows by width_bucket(uuid_hash(workspace_id), shard_bounds()), the shard group the row lives in (Citus hashes a uuid distribution column with uuid_hash): 0 for every row on a single node, so a batch never spans two shard groups. Read-only; reads Citus''s metadata only when Citus is installed.';


--
-- Name: project; Type: TABLE; Schema: real_estate; Owner: -
--

CREATE TABLE real_estate.project (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    workspace_id uuid NOT NULL,
    name text NOT NULL,
    total_plots integer DEFAULT 0 NOT NULL,
    available_plots integer DEFAULT 0 NOT NULL,
    CONSTRAINT project_available_plots_check CHECK ((available_plots >= 0)),
    CONSTRAINT project_total_plots_check CHECK ((total_plots >= 0))
);


--
-- Name: COLUMN project.available_plots; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON COLUMN real_estate.project.available_plots IS 'Number of the project''s properties whose status is AVAILABLE; maintained by the database after every statement';


--
-- Name: property; Type: TABLE; Schema: real_estate; Owner: -
--

CREATE TABLE real_estate.property (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    workspace_id uuid NOT NULL,
    project_id uuid,
    name text,
    status text DEFAULT 'AVAILABLE'::text NOT NULL,
    reserved_by_id uuid,
    reserved_until timestamp with time zone,
    CONSTRAINT property_reservation_check CHECK (
CASE
    WHEN (status = 'RESERVED'::text) THEN ((reserved_by_id IS NOT NULL) AND (reserved_until IS NOT NULL))
    ELSE ((reserved_by_id IS NULL) AND (reserved_until IS NULL))
END),
    CONSTRAINT property_status_check CHECK ((status = ANY (ARRAY['AVAILABLE'::text, 'RESERVED'::text, 'SOLD'::text])))
);


--
-- Name: CONSTRAINT property_reservation_check ON property; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON CONSTRAINT property_reservation_check ON real_estate.property IS 'reserved_by_id and reserved_until are set exactly when status is RESERVED';


--
-- Name: workspace; Type: TABLE; Schema: real_estate; Owner: -
--

CREATE TABLE real_estate.workspace (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    activation_status text DEFAULT 'ACTIVE'::text NOT NULL,
    CONSTRAINT workspace_activation_status_check CHECK ((activation_status = ANY (ARRAY['ACTIVE'::text, 'INACTIVE'::text, 'SUSPENDED'::text])))
);


--
-- Name: project_availability; Type: VIEW; Schema: real_estate; Owner: -
--

CREATE VIEW real_estate.project_availability AS
 SELECT pr.id,
    pr.workspace_id,
    pr.name,
    pr.total_plots,
    pr.available_plots,
    (pr.available_plots + (COALESCE(x.pending, (0)::bigint))::integer) AS effective_available_plots,
    (COALESCE(x.pending, (0)::bigint))::integer AS release_pending
   FROM (real_estate.project pr
     LEFT JOIN ( SELECT p.project_id,
            count(*) AS pending
           FROM (real_estate.property p
             JOIN real_estate.workspace w ON ((w.id = p.workspace_id)))
          WHERE ((p.status = 'RESERVED'::text) AND (p.reserved_until <= now()) AND (w.activation_status = 'ACTIVE'::text) AND (p.project_id IS NOT NULL))
          GROUP BY p.project_id) x ON ((x.project_id = pr.id)));


--
-- Name: VIEW project_availability; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON VIEW real_estate.project_availability IS 'Every project with its stored and effective available plots (expired reservations counted as available)';


--
-- Name: property_availability; Type: VIEW; Schema: real_estate; Owner: -
--

CREATE VIEW real_estate.property_availability AS
 SELECT p.id,
    p.workspace_id,
    p.project_id,
    p.name,
        CASE
            WHEN p.release_pending THEN 'AVAILABLE'::text
            ELSE p.status
        END AS status,
        CASE
            WHEN p.release_pending THEN NULL::uuid
            ELSE p.reserved_by_id
        END AS reserved_by_id,
        CASE
            WHEN p.release_pending THEN NULL::timestamp with time zone
            ELSE p.reserved_until
        END AS reserved_until,
    p.status AS stored_status,
    p.release_pending
   FROM ( SELECT pr.id,
            pr.workspace_id,
            pr.project_id,
            pr.name,
            pr.status,
            pr.reserved_by_id,
            pr.reserved_until,
            ((pr.status = 'RESERVED'::text) AND (pr.reserved_until <= now()) AND (w.activation_status = 'ACTIVE'::text)) AS release_pending
           FROM (real_estate.property pr
             JOIN real_estate.workspace w ON ((w.id = pr.workspace_id)))) p;


--
-- Name: VIEW property_availability; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON VIEW real_estate.property_availability IS 'Every property with its effective status: an expired reservation of an ACTIVE workspace reads as AVAILABLE with no holder';


--
-- Name: release_backlog; Type: VIEW; Schema: real_estate; Owner: -
--

CREATE VIEW real_estate.release_backlog AS
 SELECT count(*) AS expired_reservations,
    min(p.reserved_until) AS oldest_reserved_until,
    (now() - min(p.reserved_until)) AS oldest_age
   FROM (real_estate.property p
     JOIN real_estate.workspace w ON ((w.id = p.workspace_id)))
  WHERE ((p.status = 'RESERVED'::text) AND (p.reserved_until <= now()) AND (w.activation_status = 'ACTIVE'::text));


--
-- Name: VIEW release_backlog; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON VIEW real_estate.release_backlog IS 'Expired reservations of ACTIVE workspaces not yet released, and the age of the oldest';


--
-- Name: release_event_id_seq; Type: SEQUENCE; Schema: real_estate; Owner: -
--

ALTER TABLE real_estate.release_event ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME real_estate.release_event_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: release_event_purged; Type: TABLE; Schema: real_estate; Owner: -
--

CREATE TABLE real_estate.release_event_purged (
    singleton boolean DEFAULT true NOT NULL,
    purged_through bigint NOT NULL,
    purged_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT release_event_purged_singleton_check CHECK (singleton),
    CONSTRAINT release_event_purged_through_check CHECK ((purged_through >= 0))
);


--
-- Name: TABLE release_event_purged; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON TABLE real_estate.release_event_purged IS 'The release events the retention purge removed: every id up to purged_through (one row; none: nothing). Written by purge_release_log, read by release_events()';


--
-- Name: COLUMN release_event_purged.purged_through; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON COLUMN real_estate.release_event_purged.purged_through IS 'The highest release_event id deleted by the purge: the events kept all have higher ids';


--
-- Name: release_heartbeat; Type: TABLE; Schema: real_estate; Owner: -
--

CREATE TABLE real_estate.release_heartbeat (
    singleton boolean DEFAULT true NOT NULL,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone,
    CONSTRAINT release_heartbeat_singleton_check CHECK (singleton)
);


--
-- Name: TABLE release_heartbeat; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON TABLE real_estate.release_heartbeat IS 'The scheduled run''s heartbeat (one row, none before the first run): written by run_release_job through record_release_heartbeat, read by the health rule (release_health)';


--
-- Name: COLUMN release_heartbeat.started_at; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON COLUMN real_estate.release_heartbeat.started_at IS 'When the latest scheduled run started (a run that found work records it before its first batch; one with nothing to do, when it finishes)';


--
-- Name: COLUMN release_heartbeat.finished_at; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON COLUMN real_estate.release_heartbeat.finished_at IS 'When the last scheduled run finished';


--
-- Name: release_notification; Type: TABLE; Schema: real_estate; Owner: -
--

CREATE UNLOGGED TABLE real_estate.release_notification (
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE release_notification; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON TABLE real_estate.release_notification IS 'Transient: one row per transaction that writes release events, deleted by the trigger that sends its NOTIFY at commit';


--
-- Name: release_run; Type: TABLE; Schema: real_estate; Owner: -
--

CREATE TABLE real_estate.release_run (
    id bigint NOT NULL,
    source text NOT NULL,
    started_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    finished_at timestamp with time zone,
    released integer DEFAULT 0 NOT NULL,
    failed integer DEFAULT 0 NOT NULL,
    error text,
    CONSTRAINT release_run_counts_check CHECK (((released >= 0) AND (failed >= 0))),
    CONSTRAINT release_run_source_check CHECK ((source = ANY (ARRAY['pg_cron'::text, 'call'::text])))
);


--
-- Name: TABLE release_run; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON TABLE real_estate.release_run IS 'One row per release run (source pg_cron: the scheduled run; call: any other). finished_at NULL: running, or killed midway';


--
-- Name: release_run_id_seq; Type: SEQUENCE; Schema: real_estate; Owner: -
--

ALTER TABLE real_estate.release_run ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME real_estate.release_run_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: release_schedule; Type: TABLE; Schema: real_estate; Owner: -
--

CREATE TABLE real_estate.release_schedule (
    singleton boolean DEFAULT true NOT NULL,
    job_name text NOT NULL,
    jobid bigint NOT NULL,
    schedule text NOT NULL,
    cron_database text NOT NULL,
    schedule_interval interval NOT NULL,
    active boolean NOT NULL,
    registered_at timestamp with time zone DEFAULT now() NOT NULL,
    timezone text DEFAULT 'GMT'::text NOT NULL,
    CONSTRAINT release_schedule_interval_check CHECK ((schedule_interval > '00:00:00'::interval)),
    CONSTRAINT release_schedule_singleton_check CHECK (singleton)
);


--
-- Name: TABLE release_schedule; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON TABLE real_estate.release_schedule IS 'The release job as pyrelease last registered it in pg_cron (one row, none when unscheduled); written by pyrelease schedule/migrate/unschedule, read by the health rule (release_health)';


--
-- Name: COLUMN release_schedule.schedule_interval; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON COLUMN real_estate.release_schedule.schedule_interval IS 'The longest gap between two consecutive runs of the schedule, computed when it was registered';


--
-- Name: COLUMN release_schedule.registered_at; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON COLUMN real_estate.release_schedule.registered_at IS 'When the job, its schedule, database or active flag last changed';


--
-- Name: COLUMN release_schedule.timezone; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON COLUMN real_estate.release_schedule.timezone IS 'cron.timezone when the job was registered (GMT before pg_cron 1.5): schedule_interval is computed in it';


--
-- Name: routine_source; Type: TABLE; Schema: real_estate; Owner: -
--

CREATE TABLE real_estate.routine_source (
    singleton boolean DEFAULT true NOT NULL,
    sha256 text NOT NULL,
    installed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT routine_source_singleton_check CHECK (singleton)
);


--
-- Name: TABLE routine_source; Type: COMMENT; Schema: real_estate; Owner: -
--

COMMENT ON TABLE real_estate.routine_source IS 'The SHA-256 of the plpgsql/ source the post-apply step last installed (one row)';


--
-- Name: project project_id_workspace_id_key; Type: CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.project
    ADD CONSTRAINT project_id_workspace_id_key UNIQUE (id, workspace_id);


--
-- Name: project project_pkey; Type: CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.project
    ADD CONSTRAINT project_pkey PRIMARY KEY (id);


--
-- Name: property property_pkey; Type: CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.property
    ADD CONSTRAINT property_pkey PRIMARY KEY (id);


--
-- Name: release_event release_event_pkey; Type: CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.release_event
    ADD CONSTRAINT release_event_pkey PRIMARY KEY (id);


--
-- Name: release_event_purged release_event_purged_pkey; Type: CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.release_event_purged
    ADD CONSTRAINT release_event_purged_pkey PRIMARY KEY (singleton);


--
-- Name: release_heartbeat release_heartbeat_pkey; Type: CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.release_heartbeat
    ADD CONSTRAINT release_heartbeat_pkey PRIMARY KEY (singleton);


--
-- Name: release_run release_run_pkey; Type: CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.release_run
    ADD CONSTRAINT release_run_pkey PRIMARY KEY (id);


--
-- Name: release_schedule release_schedule_pkey; Type: CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.release_schedule
    ADD CONSTRAINT release_schedule_pkey PRIMARY KEY (singleton);


--
-- Name: routine_source routine_source_pkey; Type: CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.routine_source
    ADD CONSTRAINT routine_source_pkey PRIMARY KEY (singleton);


--
-- Name: workspace workspace_pkey; Type: CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.workspace
    ADD CONSTRAINT workspace_pkey PRIMARY KEY (id);


--
-- Name: project_workspace_id_idx; Type: INDEX; Schema: real_estate; Owner: -
--

CREATE INDEX project_workspace_id_idx ON real_estate.project USING btree (workspace_id);


--
-- Name: property_id_workspace_id_key; Type: INDEX; Schema: real_estate; Owner: -
--

CREATE UNIQUE INDEX property_id_workspace_id_key ON real_estate.property USING btree (id, workspace_id);


--
-- Name: property_project_id_idx; Type: INDEX; Schema: real_estate; Owner: -
--

CREATE INDEX property_project_id_idx ON real_estate.property USING btree (project_id);


--
-- Name: property_release_pick_idx; Type: INDEX; Schema: real_estate; Owner: -
--

CREATE INDEX property_release_pick_idx ON real_estate.property USING btree (workspace_id, reserved_until, id) WHERE (status = 'RESERVED'::text);


--
-- Name: property_reserved_until_idx; Type: INDEX; Schema: real_estate; Owner: -
--

CREATE INDEX property_reserved_until_idx ON real_estate.property USING btree (reserved_until) WHERE (status = 'RESERVED'::text);


--
-- Name: property_workspace_id_idx; Type: INDEX; Schema: real_estate; Owner: -
--

CREATE INDEX property_workspace_id_idx ON real_estate.property USING btree (workspace_id);


--
-- Name: release_event_run_id_idx; Type: INDEX; Schema: real_estate; Owner: -
--

CREATE INDEX release_event_run_id_idx ON real_estate.release_event USING btree (run_id);


--
-- Name: release_run_started_at_idx; Type: INDEX; Schema: real_estate; Owner: -
--

CREATE INDEX release_run_started_at_idx ON real_estate.release_run USING btree (started_at);


--
-- Name: project project_guard_available_plots_insert; Type: TRIGGER; Schema: real_estate; Owner: -
--

CREATE TRIGGER project_guard_available_plots_insert BEFORE INSERT ON real_estate.project FOR EACH ROW EXECUTE FUNCTION real_estate.project_guard_available_plots();


--
-- Name: project project_guard_available_plots_update; Type: TRIGGER; Schema: real_estate; Owner: -
--

CREATE TRIGGER project_guard_available_plots_update AFTER UPDATE ON real_estate.project REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION real_estate.project_guard_available_plots();


--
-- Name: property property_sync_available_plots_delete; Type: TRIGGER; Schema: real_estate; Owner: -
--

CREATE TRIGGER property_sync_available_plots_delete AFTER DELETE ON real_estate.property REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION real_estate.property_sync_available_plots();


--
-- Name: property property_sync_available_plots_insert; Type: TRIGGER; Schema: real_estate; Owner: -
--

CREATE TRIGGER property_sync_available_plots_insert AFTER INSERT ON real_estate.property REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION real_estate.property_sync_available_plots();


--
-- Name: property property_sync_available_plots_truncate; Type: TRIGGER; Schema: real_estate; Owner: -
--

CREATE TRIGGER property_sync_available_plots_truncate AFTER TRUNCATE ON real_estate.property FOR EACH STATEMENT EXECUTE FUNCTION real_estate.property_sync_available_plots();


--
-- Name: property property_sync_available_plots_update; Type: TRIGGER; Schema: real_estate; Owner: -
--

CREATE TRIGGER property_sync_available_plots_update AFTER UPDATE ON real_estate.property REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION real_estate.property_sync_available_plots();


--
-- Name: release_event release_event_announce; Type: TRIGGER; Schema: real_estate; Owner: -
--

CREATE TRIGGER release_event_announce BEFORE INSERT ON real_estate.release_event FOR EACH STATEMENT EXECUTE FUNCTION real_estate.release_event_announce();


--
-- Name: release_event release_event_notify; Type: TRIGGER; Schema: real_estate; Owner: -
--

CREATE TRIGGER release_event_notify AFTER INSERT ON real_estate.release_event REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION real_estate.release_event_notify();


--
-- Name: release_notification release_event_notify_commit; Type: TRIGGER; Schema: real_estate; Owner: -
--

CREATE CONSTRAINT TRIGGER release_event_notify_commit AFTER INSERT ON real_estate.release_notification DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION real_estate.release_event_notify_commit();


--
-- Name: project project_workspace_id_fkey; Type: FK CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.project
    ADD CONSTRAINT project_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES real_estate.workspace(id);


--
-- Name: property property_project_id_fkey; Type: FK CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.property
    ADD CONSTRAINT property_project_id_fkey FOREIGN KEY (project_id, workspace_id) REFERENCES real_estate.project(id, workspace_id);


--
-- Name: property property_workspace_id_fkey; Type: FK CONSTRAINT; Schema: real_estate; Owner: -
--

ALTER TABLE ONLY real_estate.property
    ADD CONSTRAINT property_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES real_estate.workspace(id);


--
-- Name: SCHEMA real_estate; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA real_estate TO real_estate_reader;
GRANT USAGE ON SCHEMA real_estate TO real_estate_app;
GRANT USAGE ON SCHEMA real_estate TO real_estate_monitor;


--
-- Name: FUNCTION apply_counter_deltas(p_workspace_ids uuid[], p_project_ids uuid[], p_deltas integer[]); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.apply_counter_deltas(p_workspace_ids uuid[], p_project_ids uuid[], p_deltas integer[]) FROM PUBLIC;


--
-- Name: FUNCTION begin_release_run(p_source text); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.begin_release_run(p_source text) FROM PUBLIC;


--
-- Name: FUNCTION cancel_reservation(p_property_id uuid, p_reserved_by_id uuid); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.cancel_reservation(p_property_id uuid, p_reserved_by_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.cancel_reservation(p_property_id uuid, p_reserved_by_id uuid) TO real_estate_app;


--
-- Name: FUNCTION check_batch_size(p_batch_size integer); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.check_batch_size(p_batch_size integer) FROM PUBLIC;


--
-- Name: FUNCTION check_invariants(); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.check_invariants() FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.check_invariants() TO real_estate_reader;


--
-- Name: FUNCTION colocated_workspaces(p_relid regclass); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.colocated_workspaces(p_relid regclass) FROM PUBLIC;


--
-- Name: FUNCTION confirm_sale(p_property_id uuid, p_reserved_by_id uuid); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.confirm_sale(p_property_id uuid, p_reserved_by_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.confirm_sale(p_property_id uuid, p_reserved_by_id uuid) TO real_estate_app;


--
-- Name: FUNCTION distribute_tables(p_shard_count integer); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.distribute_tables(p_shard_count integer) FROM PUBLIC;


--
-- Name: FUNCTION end_reservation(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.end_reservation(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION expiry_after(p_ttl interval); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.expiry_after(p_ttl interval) FROM PUBLIC;


--
-- Name: FUNCTION extend_reservation(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.extend_reservation(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.extend_reservation(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) TO real_estate_app;


--
-- Name: FUNCTION lock_property(p_workspace_id uuid, p_property_id uuid, p_check text, p_reserved_by_id uuid, OUT row_ctid tid, OUT workspace_id uuid, OUT project_id uuid, OUT status text, OUT reserved_by_id uuid, OUT reserved_until timestamp with time zone, OUT activation_status text); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.lock_property(p_workspace_id uuid, p_property_id uuid, p_check text, p_reserved_by_id uuid, OUT row_ctid tid, OUT workspace_id uuid, OUT project_id uuid, OUT status text, OUT reserved_by_id uuid, OUT reserved_until timestamp with time zone, OUT activation_status text) FROM PUBLIC;


--
-- Name: FUNCTION not_null(p_value anyelement, p_name text); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.not_null(p_value anyelement, p_name text) FROM PUBLIC;


--
-- Name: FUNCTION project_guard_available_plots(); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.project_guard_available_plots() FROM PUBLIC;


--
-- Name: FUNCTION property_sync_available_plots(); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.property_sync_available_plots() FROM PUBLIC;


--
-- Name: FUNCTION purge_release_log(p_retention interval); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.purge_release_log(p_retention interval) FROM PUBLIC;


--
-- Name: FUNCTION record_release_heartbeat(p_started_at timestamp with time zone, p_finished boolean); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.record_release_heartbeat(p_started_at timestamp with time zone, p_finished boolean) FROM PUBLIC;


--
-- Name: FUNCTION record_release_run(p_run_id bigint, p_released integer, p_failed integer, p_error text, p_finish boolean); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.record_release_run(p_run_id bigint, p_released integer, p_failed integer, p_error text, p_finish boolean) FROM PUBLIC;


--
-- Name: FUNCTION release_batch(p_source text, p_run_id bigint, p_ctids tid[], p_ids uuid[], p_project_ids uuid[], p_workspace_ids uuid[], OUT run_id bigint, OUT released integer, OUT failed integer, OUT error text); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_batch(p_source text, p_run_id bigint, p_ctids tid[], p_ids uuid[], p_project_ids uuid[], p_workspace_ids uuid[], OUT run_id bigint, OUT released integer, OUT failed integer, OUT error text) FROM PUBLIC;


--
-- Name: FUNCTION release_batch_ends(p_workspace_ids uuid[], p_batch_size integer, p_bounds integer[]); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_batch_ends(p_workspace_ids uuid[], p_batch_size integer, p_bounds integer[]) FROM PUBLIC;


--
-- Name: FUNCTION release_cutoff(p_retention interval); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_cutoff(p_retention interval) FROM PUBLIC;


--
-- Name: FUNCTION release_event_announce(); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_event_announce() FROM PUBLIC;


--
-- Name: FUNCTION release_event_announce_floor(); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_event_announce_floor() FROM PUBLIC;


--
-- Name: FUNCTION release_event_floor(); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_event_floor() FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.release_event_floor() TO real_estate_reader;


--
-- Name: FUNCTION release_event_notify(); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_event_notify() FROM PUBLIC;


--
-- Name: FUNCTION release_event_notify_arm(p_min_id bigint, p_max_id bigint, p_count bigint); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_event_notify_arm(p_min_id bigint, p_max_id bigint, p_count bigint) FROM PUBLIC;


--
-- Name: FUNCTION release_event_notify_commit(); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_event_notify_commit() FROM PUBLIC;


--
-- Name: TABLE release_event; Type: ACL; Schema: real_estate; Owner: -
--

GRANT SELECT ON TABLE real_estate.release_event TO real_estate_reader;
GRANT SELECT ON TABLE real_estate.release_event TO real_estate_monitor;


--
-- Name: FUNCTION release_events(p_after_id bigint, p_limit integer); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_events(p_after_id bigint, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.release_events(p_after_id bigint, p_limit integer) TO real_estate_reader;


--
-- Name: FUNCTION release_expired_reservations(p_batch_size integer); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_expired_reservations(p_batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.release_expired_reservations(p_batch_size integer) TO real_estate_app;


--
-- Name: FUNCTION release_health(p_counters boolean); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_health(p_counters boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.release_health(p_counters boolean) TO real_estate_monitor;
GRANT ALL ON FUNCTION real_estate.release_health(p_counters boolean) TO real_estate_reader;


--
-- Name: FUNCTION release_pick(p_after timestamp with time zone, p_above timestamp with time zone, p_up_to timestamp with time zone, p_limit integer, OUT picked_at timestamp with time zone, OUT ctids tid[], OUT ids uuid[], OUT project_ids uuid[], OUT workspace_ids uuid[], OUT scanned integer); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_pick(p_after timestamp with time zone, p_above timestamp with time zone, p_up_to timestamp with time zone, p_limit integer, OUT picked_at timestamp with time zone, OUT ctids tid[], OUT ids uuid[], OUT project_ids uuid[], OUT workspace_ids uuid[], OUT scanned integer) FROM PUBLIC;


--
-- Name: FUNCTION release_pick_bounds(p_expiries timestamp with time zone[], p_every integer); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_pick_bounds(p_expiries timestamp with time zone[], p_every integer) FROM PUBLIC;


--
-- Name: FUNCTION release_pick_chunk(p_limit integer, p_after_workspace_id uuid, p_after_reserved_until timestamp with time zone, p_after_id uuid, p_sample_every integer, OUT ctids tid[], OUT ids uuid[], OUT project_ids uuid[], OUT workspace_ids uuid[], OUT expiry_sample timestamp with time zone[], OUT scanned integer, OUT last_workspace_id uuid, OUT last_reserved_until timestamp with time zone, OUT last_id uuid); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_pick_chunk(p_limit integer, p_after_workspace_id uuid, p_after_reserved_until timestamp with time zone, p_after_id uuid, p_sample_every integer, OUT ctids tid[], OUT ids uuid[], OUT project_ids uuid[], OUT workspace_ids uuid[], OUT expiry_sample timestamp with time zone[], OUT scanned integer, OUT last_workspace_id uuid, OUT last_reserved_until timestamp with time zone, OUT last_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION release_reservation(p_property_id uuid); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_reservation(p_property_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.release_reservation(p_property_id uuid) TO real_estate_app;


--
-- Name: FUNCTION release_reservation_in_workspace(p_workspace_id uuid, p_property_id uuid); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_reservation_in_workspace(p_workspace_id uuid, p_property_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.release_reservation_in_workspace(p_workspace_id uuid, p_property_id uuid) TO real_estate_app;


--
-- Name: FUNCTION release_rows(p_run_id bigint, p_reason text, p_workspace_ids uuid[], p_ctids tid[], p_project_ids uuid[]); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.release_rows(p_run_id bigint, p_reason text, p_workspace_ids uuid[], p_ctids tid[], p_project_ids uuid[]) FROM PUBLIC;


--
-- Name: FUNCTION repair_counters(); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.repair_counters() FROM PUBLIC;


--
-- Name: FUNCTION reserve(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid, p_ttl interval); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.reserve(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) FROM PUBLIC;


--
-- Name: FUNCTION reserve_property(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.reserve_property(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.reserve_property(p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) TO real_estate_app;


--
-- Name: FUNCTION reserve_property_in_workspace(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid, p_ttl interval); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.reserve_property_in_workspace(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) FROM PUBLIC;
GRANT ALL ON FUNCTION real_estate.reserve_property_in_workspace(p_workspace_id uuid, p_property_id uuid, p_reserved_by_id uuid, p_ttl interval) TO real_estate_app;


--
-- Name: PROCEDURE run_release_job(IN p_batch_size integer, IN p_retention interval); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON PROCEDURE real_estate.run_release_job(IN p_batch_size integer, IN p_retention interval) FROM PUBLIC;


--
-- Name: FUNCTION shard_bounds(); Type: ACL; Schema: real_estate; Owner: -
--

REVOKE ALL ON FUNCTION real_estate.shard_bounds() FROM PUBLIC;


--
-- Name: TABLE project; Type: ACL; Schema: real_estate; Owner: -
--

GRANT SELECT ON TABLE real_estate.project TO real_estate_reader;
GRANT DELETE ON TABLE real_estate.project TO real_estate_app;
GRANT SELECT ON TABLE real_estate.project TO real_estate_monitor;


--
-- Name: COLUMN project.id; Type: ACL; Schema: real_estate; Owner: -
--

GRANT INSERT(id) ON TABLE real_estate.project TO real_estate_app;


--
-- Name: COLUMN project.workspace_id; Type: ACL; Schema: real_estate; Owner: -
--

GRANT INSERT(workspace_id) ON TABLE real_estate.project TO real_estate_app;


--
-- Name: COLUMN project.name; Type: ACL; Schema: real_estate; Owner: -
--

GRANT INSERT(name),UPDATE(name) ON TABLE real_estate.project TO real_estate_app;


--
-- Name: COLUMN project.total_plots; Type: ACL; Schema: real_estate; Owner: -
--

GRANT INSERT(total_plots),UPDATE(total_plots) ON TABLE real_estate.project TO real_estate_app;


--
-- Name: TABLE property; Type: ACL; Schema: real_estate; Owner: -
--

GRANT SELECT ON TABLE real_estate.property TO real_estate_reader;
GRANT INSERT,DELETE,UPDATE ON TABLE real_estate.property TO real_estate_app;
GRANT SELECT ON TABLE real_estate.property TO real_estate_monitor;


--
-- Name: TABLE workspace; Type: ACL; Schema: real_estate; Owner: -
--

GRANT SELECT ON TABLE real_estate.workspace TO real_estate_reader;
GRANT INSERT,DELETE,UPDATE ON TABLE real_estate.workspace TO real_estate_app;
GRANT SELECT ON TABLE real_estate.workspace TO real_estate_monitor;


--
-- Name: TABLE project_availability; Type: ACL; Schema: real_estate; Owner: -
--

GRANT SELECT ON TABLE real_estate.project_availability TO real_estate_reader;


--
-- Name: TABLE property_availability; Type: ACL; Schema: real_estate; Owner: -
--

GRANT SELECT ON TABLE real_estate.property_availability TO real_estate_reader;


--
-- Name: TABLE release_backlog; Type: ACL; Schema: real_estate; Owner: -
--

GRANT SELECT ON TABLE real_estate.release_backlog TO real_estate_reader;


--
-- Name: TABLE release_event_purged; Type: ACL; Schema: real_estate; Owner: -
--

GRANT SELECT ON TABLE real_estate.release_event_purged TO real_estate_reader;


--
-- Name: TABLE release_heartbeat; Type: ACL; Schema: real_estate; Owner: -
--

GRANT SELECT ON TABLE real_estate.release_heartbeat TO real_estate_reader;
GRANT SELECT ON TABLE real_estate.release_heartbeat TO real_estate_monitor;


--
-- Name: TABLE release_run; Type: ACL; Schema: real_estate; Owner: -
--

GRANT SELECT ON TABLE real_estate.release_run TO real_estate_reader;
GRANT SELECT ON TABLE real_estate.release_run TO real_estate_monitor;


--
-- Name: TABLE release_schedule; Type: ACL; Schema: real_estate; Owner: -
--

GRANT SELECT ON TABLE real_estate.release_schedule TO real_estate_reader;
GRANT SELECT ON TABLE real_estate.release_schedule TO real_estate_monitor;


--
-- PostgreSQL database dump complete
--
