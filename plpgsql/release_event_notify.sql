-- real_estate.release_event_notify(): statement-level AFTER INSERT trigger on
-- real_estate.release_event, whoever inserts (the release routines, reserve_property's
-- takeover, cancel_reservation). It adds the statement's events (from the transition table:
-- lowest and highest id, count) to the transaction's running totals, kept in the
-- transaction-local setting pyrelease.release_notify ('xid min max count ctid'), and on the
-- transaction's first such statement arms the notification: one row in
-- real_estate.release_notification, whose deferred trigger
-- (real_estate.release_event_notify_commit) sends the transaction's one NOTIFY at commit.
-- Promises: one NOTIFY real_estate_release per transaction that wrote events, whatever the
-- number of statements; nothing on rollback (NOTIFY is transactional; so are the setting
-- and the row, also in a subtransaction rolled back to its savepoint). O(1) per statement
-- plus the transition table's copy of the inserted rows.
CREATE OR REPLACE FUNCTION real_estate.release_event_notify()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_min bigint;
    v_max bigint;
    v_count bigint;
    v_xid text := pg_current_xact_id()::text;
    v_state text[] := string_to_array(current_setting('pyrelease.release_notify', true), ' ');
    v_ctid tid;
BEGIN
    -- On Citus this trigger fires on a worker's release_event shard, where the
    -- coordinator-local release_notification does not exist: notifications are single-node
    -- (on a cluster, poll release_events()).
    IF to_regclass('real_estate.release_notification') IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT min(e.id), max(e.id), count(*) INTO v_min, v_max, v_count FROM new_rows AS e;
    IF v_count = 0 THEN
        RETURN NULL;
    END IF;
    IF cardinality(v_state) = 5 AND v_state[1] = v_xid THEN
        v_min := least(v_min, v_state[2]::bigint);
        v_max := greatest(v_max, v_state[3]::bigint);
        v_count := v_count + v_state[4]::bigint;
        v_ctid := v_state[5]::tid;
    ELSE
        INSERT INTO real_estate.release_notification DEFAULT VALUES RETURNING ctid INTO v_ctid;
    END IF;
    PERFORM set_config('pyrelease.release_notify',
                       concat_ws(' ', v_xid, v_min, v_max, v_count, v_ctid), true);
    RETURN NULL;
END;
$function$;

CREATE OR REPLACE TRIGGER release_event_notify
    AFTER INSERT ON real_estate.release_event
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION real_estate.release_event_notify();

REVOKE ALL ON FUNCTION real_estate.release_event_notify() FROM PUBLIC;
