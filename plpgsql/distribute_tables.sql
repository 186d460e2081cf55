-- real_estate.distribute_tables(p_shard_count): turns a migrated install on a Citus
-- coordinator into a distributed one (pyrelease distribute): keys on (id, workspace_id), the
-- four tables distributed by workspace in one co-location group, the routines on every
-- node. Idempotent: one row per step, 'done' or 'already'. Refuses in one line (RE020-22).
CREATE OR REPLACE FUNCTION real_estate.distribute_tables(p_shard_count integer DEFAULT NULL)
RETURNS TABLE (object text, action text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $function$
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
$function$;

COMMENT ON FUNCTION real_estate.distribute_tables(integer) IS 'Turns a migrated install on a Citus coordinator into a distributed one (what pyrelease distribute calls). Idempotent: each step is skipped when already done, and a second call changes nothing. 1. Refuses, in one line, without Citus in this database (RE020) or without an active worker that can hold shards (RE021). 2. Moves the primary keys of property and release_event onto (id, workspace_id) (RE022 when migration 0009''s index is missing: migrate first) and makes project''s (id, workspace_id) key its replica identity: Citus requires every key to include the distribution column. 3. Distributes workspace by id, then project, property and release_event by workspace_id, all in workspace''s co-location group (each tenant''s rows, counters and log on the same shard group, its foreign keys checked there), with p_shard_count shards (NULL: citus.shard_count); their INSERT triggers are dropped while the rows are copied and re-created after (the counters are copied as they are, not counted twice). 4. Sets citus.enable_unsafe_triggers for this database (the counter triggers fire on the shards, touching only co-located rows) and makes every real_estate routine a Citus distributed object, present on every worker. Returns one row per step: (object, action) with action ''done'' or ''already''. Distributing a table that holds rows copies them to the workers and blocks writes to that table meanwhile (Citus''s create_distributed_table).';

REVOKE ALL ON FUNCTION real_estate.distribute_tables(integer) FROM PUBLIC;
