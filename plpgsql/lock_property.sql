-- real_estate.lock_property(p_workspace_id, p_property_id, p_check, p_reserved_by_id): finds
-- and locks (FOR UPDATE, waiting) a property in its workspace (looked up when NULL), and
-- returns it as committed; with p_check, raises unless it may be reserved ('active') or is
-- p_reserved_by_id's unexpired reservation ('holder'). Every lifecycle routine calls it.
CREATE OR REPLACE FUNCTION real_estate.lock_property(
    p_workspace_id uuid,
    p_property_id uuid,
    p_check text DEFAULT NULL,
    p_reserved_by_id uuid DEFAULT NULL,
    OUT row_ctid tid,
    OUT workspace_id uuid,
    OUT project_id uuid,
    OUT status text,
    OUT reserved_by_id uuid,
    OUT reserved_until timestamptz,
    OUT activation_status text
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
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
$function$;

COMMENT ON FUNCTION real_estate.lock_property(uuid, uuid, text, uuid) IS 'Finds a property (RE010 when p_property_id is NULL) and locks its row FOR UPDATE (waiting for a transaction that holds it), then returns it as committed: the row version''s ctid, workspace, project, status, holder, expiry and its workspace''s activation_status (all NULL when there is no such property). The locking read names the workspace (p_workspace_id; when NULL it is looked up by id first, on Citus a read of every shard, and again if the property moved to another workspace before the lock), so on Citus it runs on the one worker that holds it. p_check NULL: no check. ''active'': raises RE001 when the property does not exist (in that workspace) and RE004 when its workspace is not ACTIVE. ''holder'': those, and RE005 unless it is p_reserved_by_id''s unexpired reservation, the message saying which case (not reserved, which includes SOLD; held by another holder; expired, reserved_until <= now(), the rule the release applies) and ending in the stored reserved_until. Decided under the lock: against a concurrent release, sale or reservation exactly one wins. Every lifecycle routine (reserve, extend, sell, cancel, release_reservation) finds its property through it.';

REVOKE ALL ON FUNCTION real_estate.lock_property(uuid, uuid, text, uuid) FROM PUBLIC;
