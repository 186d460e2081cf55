-- Rolls back pyrelease 0010: the functions and the counter guard's trigger as 0002 made them.
-- Fail fast instead of queueing behind a long transaction (and blocking others behind us).
SET LOCAL lock_timeout = '10s';

DROP FUNCTION real_estate.release_pick(timestamptz);
DROP FUNCTION real_estate.release_batch(text, bigint, tid[], uuid[], uuid[], uuid[]);

-- real_estate.release_batch(...): one batch of the release. Takes the (at most
-- p_batch_size) oldest expired reservations of ACTIVE workspaces through the partial index
-- real_estate.property_reserved_until_idx, locks their projects' counter rows in id order
-- with SKIP LOCKED, then releases those rows (locked FOR UPDATE SKIP LOCKED) whose project
-- it holds. So a batch never waits on a row another transaction holds (a property, or a
-- project whose counter an application transaction is changing): such rows are left for the
-- next run, and concurrent runs can neither block nor deadlock each other.
-- The batch is released in one statement; if that fails (a host trigger or constraint
-- raises), it is retried row by row and each failing row is counted in failed and named in
-- error while the others are released (a serialization failure or deadlock is not a row's
-- failure: it is raised, for the caller to retry). Rows taken but not released (failed, busy, or
-- skipped by a host trigger) come back in skipped_ids: callers pass them in p_skip_ids so
-- the run does not take them again. The run row is created on the first batch that has
-- something to release when p_run_id is NULL, so a call that finds nothing writes nothing.
-- picked counts the rows this batch took: fewer than p_batch_size means the run is done.
-- Batches go oldest first and resume at p_after, so that a batch does not walk again over
-- the index entries of every row released before it (dead, but not removable before
-- VACUUM). In one transaction a caller resumes at last_reserved_until (the entries cannot
-- be marked dead before commit anyway); a caller that commits per batch resumes at
-- first_reserved_until, so each batch walks once over the previous batch's entries, now
-- committed, and marks them dead in the index: the next run does not visit them again.
CREATE OR REPLACE FUNCTION real_estate.release_batch(
    p_source text,
    p_batch_size integer,
    p_run_id bigint,
    p_skip_ids uuid[],
    p_after timestamptz,
    OUT run_id bigint,
    OUT picked integer,
    OUT released integer,
    OUT failed integer,
    OUT skipped_ids uuid[],
    OUT error text,
    OUT first_reserved_until timestamptz,
    OUT last_reserved_until timestamptz
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_ids uuid[];
    v_project_of uuid[];
    v_locked uuid[];
    v_ready uuid[];
    v_id uuid;
    v_message text;
    v_sqlstate text;
BEGIN
    run_id := p_run_id;
    released := 0;
    failed := 0;
    skipped_ids := '{}';

    SELECT coalesce(array_agg(c.id), '{}'), coalesce(array_agg(c.project_id), '{}'),
           min(c.reserved_until), max(c.reserved_until)
      INTO v_ids, v_project_of, first_reserved_until, last_reserved_until
      FROM (SELECT p.id, p.project_id, p.reserved_until
              FROM real_estate.property AS p
             WHERE p.status = 'RESERVED'
               AND p.reserved_until <= now()
               AND p.reserved_until >= coalesce(p_after, '-infinity')
               AND p.id <> ALL (p_skip_ids)
               AND EXISTS (SELECT 1
                             FROM real_estate.workspace AS w
                            WHERE w.id = p.workspace_id
                              AND w.activation_status = 'ACTIVE')
             ORDER BY p.reserved_until
             LIMIT p_batch_size) AS c;
    picked := cardinality(v_ids);
    IF picked = 0 THEN
        RETURN;
    END IF;

    SELECT coalesce(array_agg(l.id), '{}')
      INTO v_locked
      FROM (SELECT pr.id
              FROM real_estate.project AS pr
             WHERE pr.id = ANY (v_project_of)
             ORDER BY pr.id
               FOR NO KEY UPDATE SKIP LOCKED) AS l;
    SELECT coalesce(array_agg(u.id), '{}')
      INTO v_ready
      FROM unnest(v_ids, v_project_of) AS u(id, project_id)
     WHERE u.project_id IS NULL OR u.project_id = ANY (v_locked);

    IF cardinality(v_ready) > 0 THEN
        IF p_run_id IS NULL THEN
            run_id := real_estate.begin_release_run(p_source);
        END IF;
        BEGIN
            released := real_estate.release_rows(run_id, v_ready, v_locked);
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected THEN
                RAISE;  -- the caller's transaction must retry: not a failure of a row
            WHEN OTHERS THEN
                FOREACH v_id IN ARRAY v_ready LOOP
                    BEGIN
                        released := released + real_estate.release_rows(run_id, ARRAY[v_id], v_locked);
                    EXCEPTION
                        WHEN serialization_failure OR deadlock_detected THEN
                            RAISE;
                        WHEN OTHERS THEN
                            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE;
                            failed := failed + 1;
                            error := coalesce(error, format('property %s: %s (SQLSTATE %s)', v_id, v_message, v_sqlstate));
                            RAISE WARNING 'pyrelease: could not release property %: % (SQLSTATE %)', v_id, v_message, v_sqlstate;
                    END;
                END LOOP;
        END;
    END IF;

    IF p_run_id IS NULL AND run_id IS NOT NULL AND released = 0 AND failed = 0 THEN
        -- Every row was held elsewhere: this batch did nothing, so it leaves no run behind.
        DELETE FROM real_estate.release_run AS r WHERE r.id = run_id;
        run_id := NULL;
    END IF;

    IF released < picked THEN
        -- Failed, busy, or silently skipped by a host trigger: left for the next run.
        skipped_ids := ARRAY(SELECT p.id
                               FROM real_estate.property AS p
                              WHERE p.id = ANY (v_ids)
                                AND p.status = 'RESERVED');
    END IF;
END;
$function$;

-- real_estate.release_expired_reservations(p_batch_size): releases every expired
-- reservation (reserved_until <= now()) of ACTIVE workspaces, in batches of at most
-- p_batch_size rows, and returns how many it released. Runs inside the caller's
-- transaction (a function cannot commit; the scheduled run, real_estate.run_release_job,
-- commits per batch instead).
-- Promises: idempotent and safe under any concurrency: rows are picked with
-- FOR UPDATE SKIP LOCKED, so concurrent runs split the work, a row held elsewhere is left
-- for the next run (so is a row whose project counter another transaction is changing), and
-- each reservation is released and logged exactly once; concurrent calls never deadlock. A
-- row that cannot be released is recorded as a failure on the run and does not stop the others.
-- A call that finds nothing to release writes nothing (no run row).
CREATE OR REPLACE FUNCTION real_estate.release_expired_reservations(p_batch_size integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_batch record;
    v_run_id bigint;
    v_skip_ids uuid[] := '{}';
    v_after timestamptz;
    v_released integer := 0;
    v_failed integer := 0;
    v_error text;
BEGIN
    IF p_batch_size IS NULL OR p_batch_size < 1 THEN
        RAISE EXCEPTION 'batch size must be a positive integer, got %', coalesce(p_batch_size::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;

    LOOP
        SELECT * INTO v_batch
          FROM real_estate.release_batch('call', p_batch_size, v_run_id, v_skip_ids, v_after);
        v_run_id := v_batch.run_id;
        v_after := v_batch.last_reserved_until;
        v_released := v_released + v_batch.released;
        v_failed := v_failed + v_batch.failed;
        v_skip_ids := v_skip_ids || v_batch.skipped_ids;
        v_error := coalesce(v_error, v_batch.error);
        EXIT WHEN v_batch.picked < p_batch_size;
    END LOOP;

    IF v_run_id IS NOT NULL THEN
        PERFORM real_estate.record_release_run(v_run_id, v_released, v_failed, v_error, true);
    END IF;
    RETURN v_released;
END;
$function$;

-- real_estate.run_release_job(p_batch_size, p_retention): the scheduled run, what pg_cron
-- executes (CALL real_estate.run_release_job()). Records a 'pg_cron' run and commits it at
-- once (a run killed midway stays visible as unfinished), then releases expired
-- reservations batch by batch, COMMITTING AFTER EACH BATCH so that no row lock on a
-- property or a project counter is held for longer than one batch, then purges log rows
-- older than p_retention.
-- Promises: the same as real_estate.release_expired_reservations (SKIP LOCKED, each
-- reservation released once, failures recorded, never waits on rows held elsewhere); runs
-- that queue up back to back or overlap simply share the work.
-- A procedure that commits can be neither SECURITY DEFINER nor carry a SET clause, so the
-- body stays minimal, every name is schema-qualified, every operator is pg_catalog's, and
-- the work is done by pinned-search_path functions.
-- Its default batch is 100 rows, smaller than the function's 1000: each batch holds the
-- counter rows of the projects it touches until it commits, and short batches keep the
-- application's reservations in those projects from waiting (see README, Performance).
CREATE OR REPLACE PROCEDURE real_estate.run_release_job(
    p_batch_size integer DEFAULT 100,
    p_retention interval DEFAULT interval '30 days'
)
LANGUAGE plpgsql
AS $procedure$
DECLARE
    v_batch pg_catalog.record;
    v_run_id bigint;
    v_skip_ids pg_catalog.uuid[] := '{}';
    v_after pg_catalog.timestamptz;
BEGIN
    IF p_batch_size IS NULL OR p_batch_size OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'batch size must be a positive integer, got %', coalesce(p_batch_size::pg_catalog.text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;
    IF p_retention IS NULL
       OR pg_catalog.now() OPERATOR(pg_catalog.-) p_retention OPERATOR(pg_catalog.>=) pg_catalog.now() THEN
        RAISE EXCEPTION 'retention must be a positive interval, got %', coalesce(p_retention::pg_catalog.text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;

    v_run_id := real_estate.begin_release_run('pg_cron');
    COMMIT;

    LOOP
        SELECT * INTO v_batch
          FROM real_estate.release_batch('pg_cron', p_batch_size, v_run_id, v_skip_ids, v_after);
        v_skip_ids := v_skip_ids OPERATOR(pg_catalog.||) v_batch.skipped_ids;
        PERFORM real_estate.record_release_run(v_run_id, v_batch.released, v_batch.failed,
            v_batch.error, false);
        COMMIT;
        EXIT WHEN v_batch.picked OPERATOR(pg_catalog.<) p_batch_size;
        -- Resume where this batch began: the next scan walks over this batch's entries,
        -- committed now, and marks them dead in the index (see release_batch).
        v_after := v_batch.first_reserved_until;
    END LOOP;

    PERFORM real_estate.purge_release_log(p_retention);
    PERFORM real_estate.record_release_run(v_run_id, 0, 0, NULL, true);
    COMMIT;
END;
$procedure$;

-- real_estate.property_sync_available_plots(): statement-level trigger function that keeps
-- real_estate.project.available_plots equal to the number of the project's AVAILABLE
-- properties after every INSERT, UPDATE, DELETE or TRUNCATE on real_estate.property,
-- whoever issued it.
-- Promises: one counter UPDATE per statement (not per row), computed from the transition
-- tables; project rows are locked in id order first, so concurrent writers touching the
-- same projects in different orders cannot deadlock on the counters. SECURITY DEFINER so
-- that roles without UPDATE on available_plots still get exact counters.
CREATE OR REPLACE FUNCTION real_estate.property_sync_available_plots()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_project_ids uuid[];
    v_deltas integer[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM 1 FROM real_estate.project AS pr ORDER BY pr.id FOR NO KEY UPDATE;
        UPDATE real_estate.project AS pr SET available_plots = 0 WHERE pr.available_plots <> 0;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(d.project_id ORDER BY d.project_id), array_agg(d.delta ORDER BY d.project_id)
          INTO v_project_ids, v_deltas
          FROM (SELECT n.project_id, count(*)::integer AS delta
                  FROM new_rows AS n
                 WHERE n.status = 'AVAILABLE' AND n.project_id IS NOT NULL
                 GROUP BY n.project_id) AS d;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(d.project_id ORDER BY d.project_id), array_agg(d.delta ORDER BY d.project_id)
          INTO v_project_ids, v_deltas
          FROM (SELECT o.project_id, -count(*)::integer AS delta
                  FROM old_rows AS o
                 WHERE o.status = 'AVAILABLE' AND o.project_id IS NOT NULL
                 GROUP BY o.project_id) AS d;
    ELSE
        SELECT array_agg(d.project_id ORDER BY d.project_id), array_agg(d.delta ORDER BY d.project_id)
          INTO v_project_ids, v_deltas
          FROM (SELECT c.project_id, sum(c.delta)::integer AS delta
                  FROM (SELECT o.project_id, -1 AS delta
                          FROM old_rows AS o
                         WHERE o.status = 'AVAILABLE' AND o.project_id IS NOT NULL
                        UNION ALL
                        SELECT n.project_id, 1 AS delta
                          FROM new_rows AS n
                         WHERE n.status = 'AVAILABLE' AND n.project_id IS NOT NULL) AS c
                 GROUP BY c.project_id
                HAVING sum(c.delta) <> 0) AS d;
    END IF;

    IF v_project_ids IS NULL THEN
        RETURN NULL;
    END IF;

    PERFORM 1 FROM real_estate.project AS pr
     WHERE pr.id = ANY (v_project_ids)
     ORDER BY pr.id
       FOR NO KEY UPDATE;

    UPDATE real_estate.project AS pr
       SET available_plots = pr.available_plots + d.delta
      FROM unnest(v_project_ids, v_deltas) AS d(project_id, delta)
     WHERE pr.id = d.project_id;
    RETURN NULL;
END;
$function$;

-- real_estate.project_guard_available_plots(): trigger function on real_estate.project that
-- keeps available_plots the database's own. As a BEFORE INSERT row trigger it starts a new
-- project at 0 (it has no properties yet). As an AFTER UPDATE statement trigger it refuses
-- (RE011) any statement that changed the counter unless it came straight from the counter
-- trigger function real_estate.property_sync_available_plots (trigger depth, the table's
-- owner, as that SECURITY DEFINER function runs, and the call stack are checked), so
-- neither a user, even one granted the column, nor another trigger can write it; a write
-- that leaves the value as it was (an ORM saving every column) passes. Checked once per
-- statement, so the counter trigger pays for it once per batch, not once per project.
CREATE OR REPLACE FUNCTION real_estate.project_guard_available_plots()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_context text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.available_plots := 0;
        RETURN NEW;
    END IF;

    IF pg_trigger_depth() >= 2 THEN
        -- The call stack reads: this function, the UPDATE statement, then its issuer.
        GET DIAGNOSTICS v_context = PG_CONTEXT;
        IF EXISTS (SELECT 1
                     FROM pg_class AS c
                     JOIN pg_roles AS r ON r.oid = c.relowner
                    WHERE c.oid = TG_RELID
                      AND r.rolname = current_user)
           AND (regexp_match(v_context, E'\nPL/pgSQL function ([^ ]+) '))[1]
               = 'real_estate.property_sync_available_plots()' THEN
            RETURN NULL;
        END IF;
    END IF;

    IF EXISTS (SELECT 1
                 FROM old_rows AS o
                 JOIN new_rows AS n ON n.id = o.id
                WHERE n.available_plots IS DISTINCT FROM o.available_plots) THEN
        RAISE EXCEPTION 'real_estate.project.available_plots is maintained by the database'
            USING ERRCODE = 'RE011',
                  HINT = 'Change real_estate.property rows; the counter follows them.';
    END IF;
    RETURN NULL;
END;
$function$;

DROP TRIGGER project_guard_available_plots_update ON real_estate.project;
CREATE TRIGGER project_guard_available_plots_update
    AFTER UPDATE ON real_estate.project
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION real_estate.project_guard_available_plots();

REVOKE ALL ON FUNCTION real_estate.release_batch(text, integer, bigint, uuid[], timestamptz) FROM PUBLIC;
