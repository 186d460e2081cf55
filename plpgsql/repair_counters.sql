-- real_estate.repair_counters(): sets every project's available_plots back to its number of
-- AVAILABLE properties, for rows written past the triggers (session_replication_role =
-- replica: logical replication, pg_restore, bulk loads), the drift check_invariants()
-- reports as counter_drift. Returns the number of projects it corrected (0: none drifted).
-- Owner only (not granted to real_estate_app or real_estate_reader); READ COMMITTED only
-- (a REPEATABLE READ snapshot could miss committed property changes: RE010).
-- Locks the drifted projects' counter rows in id order (FOR NO KEY UPDATE, as the counter
-- trigger does, so it cannot deadlock with writers), then counts with a new snapshot: a
-- writer still in flight adds its own delta after this commits. Waits for such a writer.
-- The counter guard (project_guard_available_plots) lets its UPDATE through because it sets
-- real_estate.repair_counters = 'on' around that one UPDATE only (set_config, transaction
-- local, reset right after; an error rolls it back with the statement) and current_user is
-- the table owner. (Not a SET clause: PostgreSQL 15 refuses a non-superuser owner a SET
-- clause on a custom parameter.) The result is checked here: a host trigger changing the
-- counter again makes it fail (RE011) and nothing is kept.
CREATE OR REPLACE FUNCTION real_estate.repair_counters()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_project_ids uuid[];
    v_fixed integer;
    v_wrong integer;
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

    PERFORM 1 FROM real_estate.project AS pr
     WHERE pr.id = ANY (v_project_ids)
     ORDER BY pr.id
       FOR NO KEY UPDATE;

    PERFORM set_config('real_estate.repair_counters', 'on', true);
    WITH fixed AS (
        UPDATE real_estate.project AS pr
           SET available_plots = c.n
          FROM (SELECT pr2.id,
                       (SELECT count(*) FROM real_estate.property AS p
                         WHERE p.project_id = pr2.id AND p.status = 'AVAILABLE')::integer AS n
                  FROM real_estate.project AS pr2
                 WHERE pr2.id = ANY (v_project_ids)) AS c
         WHERE pr.id = c.id AND pr.available_plots <> c.n
        RETURNING pr.available_plots = c.n AS exact
    )
    SELECT count(*)::integer, (count(*) FILTER (WHERE NOT exact))::integer
      INTO v_fixed, v_wrong FROM fixed;
    PERFORM set_config('real_estate.repair_counters', '', true);
    IF v_wrong > 0 THEN
        RAISE EXCEPTION 'repair_counters(): % counter(s) were changed again by a trigger', v_wrong
            USING ERRCODE = 'RE011';
    END IF;
    RETURN v_fixed;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.repair_counters() FROM PUBLIC;
