-- real_estate.apply_counter_deltas(p_workspace_ids, p_project_ids, p_deltas): adds each delta
-- to its project's available_plots, the one counter write the guard lets through: it locks
-- the rows in id order (no deadlock between writers) and announces the deltas for the
-- length of its UPDATE. The counter trigger and repair_counters call it; owner only.
CREATE OR REPLACE FUNCTION real_estate.apply_counter_deltas(
    p_workspace_ids uuid[],
    p_project_ids uuid[],
    p_deltas integer[]
)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- Each project row found by its id: never a scan of every project (and of every version a
-- long transaction left of them).
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $function$
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
$function$;

COMMENT ON FUNCTION real_estate.apply_counter_deltas(uuid[], uuid[], integer[]) IS 'Adds p_deltas[i] to the available_plots of project p_project_ids[i] (of the workspaces p_workspace_ids, so that on Citus the write reaches only the co-located project shard): the one way a counter changes. It locks the projects'' rows in id order first (FOR NO KEY UPDATE, waiting), so concurrent writers touching the same projects in different orders cannot deadlock on the counters, then announces its deltas in the transaction-local setting pyrelease.counter_write (''<trigger depth>|,<project>:<delta>,...'') for the length of its one UPDATE, which the counter guard (project_guard_available_plots) lets through: exactly those deltas, one trigger level below the announcement, as the table''s owner. Called by the counter trigger (property_sync_available_plots) and by repair_counters; owner only (SECURITY DEFINER, not granted).';

REVOKE ALL ON FUNCTION real_estate.apply_counter_deltas(uuid[], uuid[], integer[]) FROM PUBLIC;
