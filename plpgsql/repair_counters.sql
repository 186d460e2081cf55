-- real_estate.repair_counters(): sets every drifted available_plots back to its project's
-- AVAILABLE properties (rows written past the triggers) and returns how many it corrected.
-- Locks the drifted counter rows in id order, counts with a new snapshot, and writes through
-- real_estate.apply_counter_deltas. Owner only; READ COMMITTED only (RE010). Idempotent.
CREATE OR REPLACE FUNCTION real_estate.repair_counters()
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
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
$function$;

COMMENT ON FUNCTION real_estate.repair_counters() IS 'Sets every project''s available_plots back to its number of AVAILABLE properties, for rows written past the triggers (session_replication_role = replica: logical replication, pg_restore, bulk loads), the drift check_invariants() reports as counter_drift, and returns the number of projects it corrected (0: none drifted). Locks the drifted projects'' counter rows in id order (FOR NO KEY UPDATE, as the counter trigger does, so it cannot deadlock with writers, and waits for a writer holding them), then counts with a new snapshot: a writer still in flight adds its own delta after this commits. The corrections go through apply_counter_deltas, the counter trigger''s own announced write, so the counter guard lets exactly them through: a host trigger changing a counter again makes it fail (RE011) and nothing is kept. Owner only (not granted to real_estate_app or real_estate_reader); READ COMMITTED only (a REPEATABLE READ snapshot could miss committed property changes: RE010). Idempotent: a second call returns 0.';

REVOKE ALL ON FUNCTION real_estate.repair_counters() FROM PUBLIC;
