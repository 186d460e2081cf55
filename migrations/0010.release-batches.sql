-- depends: 0005.roles
-- pyrelease 0010: the release in one pick per run and one statement per batch, and a counter
-- guard that reads no message text (issue 10; issue 8 items 1 and 8). The function texts are
-- copies of plpgsql/*.sql as of this migration. The counter guard becomes an AFTER UPDATE
-- row trigger that fires only for rows whose counter changed.

-- Fail fast instead of queueing behind a long transaction (and blocking others behind us).
SET LOCAL lock_timeout = '10s';

DROP FUNCTION real_estate.release_batch(text, integer, bigint, uuid[], timestamptz);

-- real_estate.release_pick(): the one pick of a release run. Reads the expired reservations
-- (reserved_until <= now()) of ACTIVE workspaces through the partial index
-- real_estate.property_reserved_until_idx and returns them as four parallel arrays (the row
-- versions' ctids, the property ids, their projects and workspaces), ordered by
-- (workspace_id, project_id, ctid): slices of it are the run's batches, so that each batch
-- touches as few workspaces and projects (counter rows) as possible and reads the heap in
-- order. Takes no lock: each batch re-checks its rows under FOR UPDATE SKIP LOCKED
-- (real_estate.release_batch).
-- With p_after, only reservations that expired after p_after are returned (the scheduled
-- run's last pick: those that expired while it ran). Either way the scan walks the whole
-- expired range of the index, and a plain index scan that meets the entries of rows
-- released and committed before it marks them dead in the index: the runs after the
-- scheduled run's last pick do not visit them again.
CREATE OR REPLACE FUNCTION real_estate.release_pick(
    p_after timestamptz DEFAULT NULL,
    OUT picked_at timestamptz,
    OUT ctids tid[],
    OUT ids uuid[],
    OUT project_ids uuid[],
    OUT workspace_ids uuid[]
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- A plain index scan, never a bitmap or sequential one: only a plain index scan marks the
-- entries of rows released (and committed) before it as dead in the index.
SET enable_bitmapscan = off
SET enable_seqscan = off
-- The sort of a large pick stays in memory (50,000 rows: about 4 MB).
SET work_mem = '64MB'
AS $function$
BEGIN
    picked_at := now();
    -- p_after is a filter (IS NOT FALSE), not an index condition: the scan still walks (and
    -- marks dead) the entries before it.
    SELECT coalesce(array_agg(c.row_ctid), '{}'), coalesce(array_agg(c.id), '{}'),
           coalesce(array_agg(c.project_id), '{}'), coalesce(array_agg(c.workspace_id), '{}')
      INTO ctids, ids, project_ids, workspace_ids
      FROM (SELECT p.ctid AS row_ctid, p.id, p.project_id, p.workspace_id
              FROM real_estate.property AS p
              JOIN real_estate.workspace AS w ON w.id = p.workspace_id
             WHERE p.status = 'RESERVED'
               AND p.reserved_until <= now()
               AND w.activation_status = 'ACTIVE'
               AND (p.reserved_until > p_after) IS NOT FALSE
             ORDER BY p.workspace_id, p.project_id, p.ctid) AS c;
END;
$function$;

-- real_estate.release_batch(...): one batch of a release run: a slice of the run's pick
-- (real_estate.release_pick: row versions' ctids, property ids, their projects and
-- workspaces). In ONE statement it locks the batch's projects' counter rows (FOR NO KEY
-- UPDATE SKIP LOCKED), then those of its rows that still hold an expired reservation of an
-- ACTIVE workspace and belong to a locked project (or to none) (FOR UPDATE SKIP LOCKED,
-- found by ctid: no index lookup), releases them, and writes their release_event rows from
-- the UPDATE's RETURNING; the counter trigger then applies one grouped delta per project.
-- So a batch never waits on a row another transaction holds (a property, or a project whose
-- counter an application transaction is changing): such rows are left for the next run, and
-- concurrent runs can neither block nor deadlock each other; expiry, status and workspace
-- are checked under the lock, so a row is released at most once and a row changed meanwhile
-- (sold, re-reserved, moved) is left alone.
-- A picked row that was not released is looked up again by id, once: a row updated after the
-- pick (by anything: its ctid changed) but still expired is released by that second statement.
-- If a statement fails (a host trigger or constraint raises), the rows are retried one by
-- one and each failing row is counted in failed and named in error while the others are
-- released (a serialization failure or deadlock is not a row's failure: it is raised, for
-- the caller to retry). The run row is created by the first batch that has something to
-- release when p_run_id is NULL, so a run that finds nothing writes nothing.
CREATE OR REPLACE FUNCTION real_estate.release_batch(
    p_source text,
    p_run_id bigint,
    p_ctids tid[],
    p_ids uuid[],
    p_project_ids uuid[],
    p_workspace_ids uuid[],
    OUT run_id bigint,
    OUT released integer,
    OUT failed integer,
    OUT error text
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- The batch statement must find its rows by ctid whatever the batch size: a custom plan for a
-- large array could switch to a scan of the whole table.
SET plan_cache_mode = force_generic_plan
AS $function$
DECLARE
    v_count integer;
    v_ctids tid[];
    v_row_projects uuid[];
    v_row_workspaces uuid[];
    v_projects uuid[];
    v_active uuid[];
    v_run_id bigint;
    v_try integer := 1;
    v_message text;
    v_sqlstate text;
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
    v_run_id := run_id;
    v_ctids := p_ctids;
    v_row_projects := p_project_ids;
    v_row_workspaces := p_workspace_ids;

    LOOP
        -- The batch's distinct projects (to lock) and ACTIVE workspaces (few: the pick is
        -- ordered by workspace), as arrays the batch statement filters on.
        v_projects := ARRAY(SELECT DISTINCT u.id FROM unnest(v_row_projects) AS u(id) WHERE u.id IS NOT NULL);
        v_active := ARRAY(SELECT w.id
                            FROM real_estate.workspace AS w
                           WHERE w.id IN (SELECT DISTINCT u.id FROM unnest(v_row_workspaces) AS u(id))
                             AND w.activation_status = 'ACTIVE');
        BEGIN
            WITH locked_project AS (
                SELECT pr.id
                  FROM real_estate.project AS pr
                 WHERE pr.id = ANY (v_projects)
                 ORDER BY pr.id
                   FOR NO KEY UPDATE SKIP LOCKED
            ), target AS (
                SELECT p.ctid AS row_ctid, p.id, p.workspace_id, p.project_id,
                       p.reserved_by_id, p.reserved_until
                  FROM real_estate.property AS p
                 WHERE p.ctid = ANY (v_ctids)
                   AND p.status = 'RESERVED'
                   AND p.reserved_until <= now()
                   AND (p.project_id IS NULL OR p.project_id IN (SELECT l.id FROM locked_project AS l))
                   AND p.workspace_id = ANY (v_active)
                   FOR UPDATE OF p SKIP LOCKED
            ), done AS (
                UPDATE real_estate.property AS p
                   SET status = 'AVAILABLE', reserved_by_id = NULL, reserved_until = NULL
                  FROM target AS t
                 WHERE p.ctid = t.row_ctid  -- the version just locked
                RETURNING t.id, t.workspace_id, t.project_id, t.reserved_by_id, t.reserved_until
            )
            INSERT INTO real_estate.release_event
                (run_id, property_id, workspace_id, project_id, reserved_by_id, reserved_until, released_at)
            SELECT v_run_id, d.id, d.workspace_id, d.project_id, d.reserved_by_id, d.reserved_until, now()
              FROM done AS d;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            released := released + v_count;
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected THEN
                RAISE;  -- the caller's transaction must retry: not a failure of a row
            WHEN OTHERS THEN
                IF cardinality(v_ctids) = 1 THEN
                    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE;
                    failed := failed + 1;
                    error := coalesce(error, format('property %s: %s (SQLSTATE %s)',
                        (SELECT p.id FROM real_estate.property AS p WHERE p.ctid = v_ctids[1]),
                        v_message, v_sqlstate));
                    RAISE WARNING 'pyrelease: could not release property %: % (SQLSTATE %)',
                        (SELECT p.id FROM real_estate.property AS p WHERE p.ctid = v_ctids[1]),
                        v_message, v_sqlstate;
                ELSE
                    -- One by one: each row in its own statement (and subtransaction).
                    DECLARE
                        v_one record;
                        v_res record;
                    BEGIN
                        FOR v_one IN SELECT * FROM unnest(v_ctids, v_row_projects, v_row_workspaces) AS u(c, pr, ws) LOOP
                            SELECT * INTO v_res
                              FROM real_estate.release_batch(p_source, v_run_id, ARRAY[v_one.c],
                                   NULL, ARRAY[v_one.pr], ARRAY[v_one.ws]) AS b;
                            released := released + v_res.released;
                            failed := failed + v_res.failed;
                            error := coalesce(error, v_res.error);
                        END LOOP;
                    END;
                END IF;
                EXIT;
        END;

        EXIT WHEN v_try = 2 OR released + failed >= cardinality(p_ctids) OR p_ids IS NULL;
        -- Picked but not released: held elsewhere, no longer expired, or changed after the
        -- pick (a new row version, at a new ctid). Those still expired are tried once more,
        -- at their current version.
        v_try := 2;
        SELECT array_agg(p.ctid), array_agg(p.project_id), array_agg(p.workspace_id)
          INTO v_ctids, v_row_projects, v_row_workspaces
          FROM real_estate.property AS p
         WHERE p.id = ANY (p_ids)
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
$function$;

-- real_estate.release_expired_reservations(p_batch_size): releases every expired
-- reservation (reserved_until <= now()) of ACTIVE workspaces, in batches of at most
-- p_batch_size rows, and returns how many it released. Runs inside the caller's
-- transaction (a function cannot commit; the scheduled run, real_estate.run_release_job,
-- commits per batch instead).
-- One pick per run (real_estate.release_pick, ordered by workspace, project and row), cut
-- into batches of consecutive rows, so that each batch touches few projects and each
-- project's counter row is written by one or two batches of the run, not by every batch;
-- each batch is one statement (real_estate.release_batch).
-- Promises: idempotent and safe under any concurrency: rows are locked FOR UPDATE SKIP
-- LOCKED and re-checked under the lock, so concurrent runs split the work, a row held
-- elsewhere is left for the next run (so is a row whose project counter another transaction
-- is changing), and each reservation is released and logged exactly once; concurrent calls
-- never deadlock. A row that cannot be released is recorded as a failure on the run and
-- does not stop the others. A call that finds nothing to release writes nothing (no run row).
CREATE OR REPLACE FUNCTION real_estate.release_expired_reservations(p_batch_size integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_ctids tid[];
    v_ids uuid[];
    v_projects uuid[];
    v_workspaces uuid[];
    v_batch record;
    v_run_id bigint;
    v_n integer;
    v_i integer := 1;
    v_j integer;
    v_released integer := 0;
    v_failed integer := 0;
    v_error text;
BEGIN
    IF p_batch_size IS NULL OR p_batch_size < 1 THEN
        RAISE EXCEPTION 'batch size must be a positive integer, got %', coalesce(p_batch_size::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;

    SELECT k.ctids, k.ids, k.project_ids, k.workspace_ids
      INTO v_ctids, v_ids, v_projects, v_workspaces
      FROM real_estate.release_pick() AS k;
    v_n := cardinality(v_ctids);

    WHILE v_i <= v_n LOOP
        v_j := least(v_i + p_batch_size - 1, v_n);
        SELECT * INTO v_batch
          FROM real_estate.release_batch('call', v_run_id, v_ctids[v_i:v_j], v_ids[v_i:v_j],
                                         v_projects[v_i:v_j], v_workspaces[v_i:v_j]);
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
$function$;

-- real_estate.run_release_job(p_batch_size, p_retention): the scheduled run, what pg_cron
-- executes (CALL real_estate.run_release_job()). Records a 'pg_cron' run and commits it at
-- once (a run killed midway stays visible as unfinished), then releases expired
-- reservations batch by batch, COMMITTING AFTER EACH BATCH so that no row lock on a
-- property or a project counter is held for longer than one batch, then purges log rows
-- older than p_retention.
-- One pick (real_estate.release_pick, ordered by workspace, project and row) cut into
-- batches of consecutive rows, each released in one statement (real_estate.release_batch);
-- then, once the batches have committed, a last pick over the partial index: it marks the
-- index entries of the rows just released dead (so the next run does not visit them) and
-- releases the reservations that expired while the run went on. Rows the first pick took
-- but could not release (held elsewhere, failing) are the next run's.
-- Promises: the same as real_estate.release_expired_reservations (SKIP LOCKED, each
-- reservation released once, failures recorded, never waits on rows held elsewhere); runs
-- that queue up back to back or overlap simply share the work.
-- A procedure that commits can be neither SECURITY DEFINER nor carry a SET clause, so the
-- body stays minimal, every name is schema-qualified, every operator is pg_catalog's, and
-- the work is done by pinned-search_path functions.
-- Its default batch is smaller than the function's 1000: each batch holds the counter rows
-- of the projects it touches until it commits, and short batches keep the application's
-- reservations in those projects from waiting (see README, Performance).
CREATE OR REPLACE PROCEDURE real_estate.run_release_job(
    p_batch_size integer DEFAULT 100,
    p_retention interval DEFAULT interval '30 days'
)
LANGUAGE plpgsql
AS $procedure$
DECLARE
    v_ctids pg_catalog.tid[];
    v_ids pg_catalog.uuid[];
    v_projects pg_catalog.uuid[];
    v_workspaces pg_catalog.uuid[];
    v_batch pg_catalog.record;
    v_after pg_catalog.timestamptz;
    v_run_id bigint;
    v_n integer;
    v_i integer;
    v_j integer;
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

    FOR v_pass IN 1..2 LOOP
        SELECT k.picked_at, k.ctids, k.ids, k.project_ids, k.workspace_ids
          INTO v_after, v_ctids, v_ids, v_projects, v_workspaces
          FROM real_estate.release_pick(v_after) AS k;
        v_n := pg_catalog.cardinality(v_ctids);
        -- Nothing to release (at all: the steady state stays one scan; or since the first pick).
        EXIT WHEN v_n OPERATOR(pg_catalog.=) 0;
        v_i := 1;
        WHILE v_i OPERATOR(pg_catalog.<=) v_n LOOP
            v_j := least(v_i OPERATOR(pg_catalog.+) p_batch_size OPERATOR(pg_catalog.-) 1, v_n);
            SELECT * INTO v_batch
              FROM real_estate.release_batch('pg_cron', v_run_id, v_ctids[v_i:v_j], v_ids[v_i:v_j],
                                             v_projects[v_i:v_j], v_workspaces[v_i:v_j]);
            PERFORM real_estate.record_release_run(v_run_id, v_batch.released, v_batch.failed,
                v_batch.error, false);
            COMMIT;
            v_i := v_j OPERATOR(pg_catalog.+) 1;
        END LOOP;
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
-- Promises: one counter UPDATE per statement (not per row), one grouped delta per project
-- computed from the transition tables, applied by project id; project rows are locked in
-- id order first, so concurrent writers touching the same projects in different orders
-- cannot deadlock on the counters. SECURITY DEFINER so that roles without UPDATE on
-- available_plots still get exact counters.
-- The write is announced to the counter guard (real_estate.project_guard_available_plots)
-- for the length of the UPDATE: the setting pyrelease.counter_write holds this trigger's
-- depth and each project's expected delta; the guard lets through exactly those changes,
-- made as the table's owner one trigger level below this one, and nothing else.
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
        SELECT array_agg(l.id ORDER BY l.id), array_agg(-l.available_plots ORDER BY l.id)
          INTO v_project_ids, v_deltas
          FROM (SELECT pr.id, pr.available_plots
                  FROM real_estate.project AS pr
                 ORDER BY pr.id
                   FOR NO KEY UPDATE) AS l
         WHERE l.available_plots <> 0;
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

    IF TG_OP <> 'TRUNCATE' THEN
        PERFORM 1 FROM real_estate.project AS pr
         WHERE pr.id = ANY (v_project_ids)
         ORDER BY pr.id
           FOR NO KEY UPDATE;
    END IF;

    PERFORM set_config('pyrelease.counter_write',
        pg_trigger_depth()::text || '|,'
        || array_to_string(ARRAY(SELECT d.project_id::text || ':' || d.delta::text
                                   FROM unnest(v_project_ids, v_deltas) AS d(project_id, delta)), ',')
        || ',', true);
    UPDATE real_estate.project AS pr
       SET available_plots = pr.available_plots + d.delta
      FROM unnest(v_project_ids, v_deltas) AS d(project_id, delta)
     WHERE pr.id = d.project_id;
    PERFORM set_config('pyrelease.counter_write', '', true);
    RETURN NULL;
END;
$function$;

-- real_estate.project_guard_available_plots(): trigger function on real_estate.project that
-- keeps available_plots the database's own. As a BEFORE INSERT row trigger it starts a new
-- project at 0 (it has no properties yet). As an AFTER UPDATE row trigger, fired only for
-- rows whose counter changed (WHEN clause), it refuses (RE011) the change unless it is
-- exactly the one the counter trigger real_estate.property_sync_available_plots announced
-- for that row: same id before and after, the announced delta (so a BEFORE UPDATE trigger of
-- the host that alters the counter while riding on the counter trigger's own UPDATE is
-- refused, whatever its name's place in the firing order), issued one trigger level below
-- the counter trigger (not by a trigger the counter write fires in turn), as the table's
-- owner (the SECURITY DEFINER counter trigger runs as the owner: a session that sets the
-- announcement itself runs as itself and is refused even when granted the column). It reads
-- no message text (a translated lc_messages changes nothing). A write that leaves the
-- value as it was (an ORM saving every column) never reaches it.
CREATE OR REPLACE FUNCTION real_estate.project_guard_available_plots()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_write text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.available_plots := 0;
        RETURN NEW;
    END IF;

    v_write := current_setting('pyrelease.counter_write', true);
    IF v_write <> ''
       AND NEW.id = OLD.id
       AND pg_trigger_depth() >= 2
       AND starts_with(v_write, (pg_trigger_depth() - 1)::text || '|,')
       AND strpos(v_write, ',' || NEW.id::text || ':'
                           || (NEW.available_plots::bigint - OLD.available_plots)::text || ',') > 0
       AND EXISTS (SELECT 1
                     FROM pg_class AS c
                    WHERE c.oid = TG_RELID
                      AND c.relowner = (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user)) THEN
        RETURN NULL;
    END IF;

    RAISE EXCEPTION 'real_estate.project.available_plots is maintained by the database'
        USING ERRCODE = 'RE011',
              HINT = 'Change real_estate.property rows; the counter follows them.';
END;
$function$;

DROP TRIGGER project_guard_available_plots_update ON real_estate.project;
CREATE TRIGGER project_guard_available_plots_update
    AFTER UPDATE ON real_estate.project
    FOR EACH ROW WHEN (OLD.available_plots IS DISTINCT FROM NEW.available_plots)
    EXECUTE FUNCTION real_estate.project_guard_available_plots();

REVOKE ALL ON FUNCTION real_estate.release_pick(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION real_estate.release_batch(text, bigint, tid[], uuid[], uuid[], uuid[]) FROM PUBLIC;
