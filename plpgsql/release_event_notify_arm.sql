-- real_estate.release_event_notify_arm(p_min_id, p_max_id, p_count): adds events just written
-- to the transaction's running totals and, the first time in the transaction, arms its one
-- NOTIFY at commit (a row in release_notification; release_event_notify_commit sends it).
-- Transactional: nothing stays of it on rollback, a subtransaction's rollback included.
CREATE OR REPLACE FUNCTION real_estate.release_event_notify_arm(p_min_id bigint, p_max_id bigint, p_count bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
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
$function$;

COMMENT ON FUNCTION real_estate.release_event_notify_arm(bigint, bigint, bigint) IS 'Adds release events just written (their lowest and highest id, and how many) to the transaction''s running totals, kept in the transaction-local setting pyrelease.release_notify (''xid min max count ctid''), and on the transaction''s first call inserts the one row of real_estate.release_notification whose deferred trigger (release_event_notify_commit) sends the transaction''s one NOTIFY real_estate_release at commit; that trigger is set DEFERRED first, so that a SET CONSTRAINTS ALL IMMEDIATE in force does not fire it inside the INSERT, before the totals exist (a SET CONSTRAINTS ... IMMEDIATE issued later fires it then, and the events written after arm a second notification). Called by the statement trigger release_event_notify on a single node, and by release_rows on Citus (where that trigger fires on the workers'' shards, without the coordinator''s release_notification). Transactional: the setting and the row are undone with the (sub)transaction that wrote the events, and NOTIFY is sent only at commit.';

REVOKE ALL ON FUNCTION real_estate.release_event_notify_arm(bigint, bigint, bigint) FROM PUBLIC;
