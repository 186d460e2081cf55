-- real_estate.property_sync_available_plots(): statement-level trigger function keeping
-- project.available_plots equal to the project's AVAILABLE properties after every INSERT,
-- UPDATE, DELETE or TRUNCATE on property, whoever issued it: one grouped delta per project
-- from the transition tables, applied by real_estate.apply_counter_deltas (rows locked in
-- id order: no deadlock). On Citus it fires on the shards, naming the rows' workspaces.
CREATE OR REPLACE FUNCTION real_estate.property_sync_available_plots()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
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
$function$;

-- The statement-level triggers that call it (re-created in place: no window without them).
CREATE OR REPLACE TRIGGER property_sync_available_plots_insert
    AFTER INSERT ON real_estate.property
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION real_estate.property_sync_available_plots();
CREATE OR REPLACE TRIGGER property_sync_available_plots_update
    AFTER UPDATE ON real_estate.property
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION real_estate.property_sync_available_plots();
CREATE OR REPLACE TRIGGER property_sync_available_plots_delete
    AFTER DELETE ON real_estate.property
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION real_estate.property_sync_available_plots();
CREATE OR REPLACE TRIGGER property_sync_available_plots_truncate
    AFTER TRUNCATE ON real_estate.property
    FOR EACH STATEMENT EXECUTE FUNCTION real_estate.property_sync_available_plots();

COMMENT ON FUNCTION real_estate.property_sync_available_plots() IS 'Statement-level trigger function on real_estate.property (AFTER INSERT, UPDATE, DELETE, TRUNCATE): keeps real_estate.project.available_plots equal to the number of the project''s AVAILABLE properties after every statement, whoever issued it (package functions or the application''s own INSERT/UPDATE/DELETE/COPY/MERGE/TRUNCATE). One counter UPDATE per statement, not per row: one grouped delta per project computed from the transition tables, applied by apply_counter_deltas, which locks the project rows in id order first, so concurrent writers touching the same projects in different orders cannot deadlock on the counters. SECURITY DEFINER, so that roles without UPDATE on available_plots still get exact counters. On Citus it fires on the shards of property and names the rows'' workspaces in every counter query, which then reaches only the co-located project shard (a local query on the same worker); a TRUNCATE zeroes the counters of the co-located project shard (colocated_workspaces), and nothing on the coordinator''s shell table.';

REVOKE ALL ON FUNCTION real_estate.property_sync_available_plots() FROM PUBLIC;
