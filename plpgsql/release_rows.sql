-- real_estate.release_rows(p_run_id, p_reason, p_workspace_ids, p_ctids, p_project_ids): THE
-- release: makes the given row versions AVAILABLE and logs one release_event each, in two
-- statements that name the workspaces (one worker on Citus). SKIP LOCKED, re-checked under
-- the lock: a row is released once. Returns how many. Not SECURITY DEFINER (it builds an
-- INSERT as text on Citus): only the owner's SECURITY DEFINER routines call it.
DROP FUNCTION IF EXISTS real_estate.release_rows(bigint, uuid[], uuid[]);
DROP FUNCTION IF EXISTS real_estate.release_workspace_rows(uuid[], bigint, uuid[], uuid[]);

CREATE OR REPLACE FUNCTION real_estate.release_rows(
    p_run_id bigint,
    p_reason text,
    p_workspace_ids uuid[],
    p_ctids tid[],
    p_project_ids uuid[] DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $function$
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
$function$;

COMMENT ON FUNCTION real_estate.release_rows(bigint, text, uuid[], tid[], uuid[]) IS 'The one place a reservation is ended: releases those of the row versions p_ctids (of the workspaces p_workspace_ids) that are still RESERVED and, for p_reason ''expired'', expired (reserved_until <= now()), or for ''cancelled'' whatever their expiry, and logs one release_event each (previous holder and expiry, reason p_reason, run p_run_id); returns how many. Rows are locked FOR UPDATE SKIP LOCKED and checked under the lock, so a row is released at most once, a row another transaction holds is left alone (callers that must wait lock it first: a row the caller holds is never skipped), and a row changed meanwhile (a new version) is not touched. With p_project_ids, the counter rows of those projects are locked FOR NO KEY UPDATE SKIP LOCKED first and only rows of locked projects (or of none) are released, so the counter trigger never waits. Callers pass only the workspaces whose rows may be released (the ACTIVE ones for an expiry). Every statement names the workspaces: on Citus, given the workspaces of one shard group, it runs on the one worker holding it, and the events are sent as one INSERT ... VALUES whose ids the coordinator gives out (commit-ordered for release_events()), their writer''s floor announced on the coordinator before the ids are given out (release_event_announce_floor, for release_events()) and their NOTIFY armed there after (release_event_notify_arm), where the readers and listeners are. Not SECURITY DEFINER (it builds that INSERT as text, every value a quoted literal): only the owner''s SECURITY DEFINER routines call it.';

REVOKE ALL ON FUNCTION real_estate.release_rows(bigint, text, uuid[], tid[], uuid[]) FROM PUBLIC;
