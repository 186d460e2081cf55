-- real_estate.release_event_announce_floor(): before the transaction draws its first
-- release_event id, announces the lowest id it may draw (its floor) as a transaction-level
-- shared advisory lock, which any role sees in pg_locks (real_estate.release_event_floor).
-- Once per transaction; undone with a subtransaction that rolls back. Never waits.
CREATE OR REPLACE FUNCTION real_estate.release_event_announce_floor()
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_xid text := pg_current_xact_id()::text;
    v_floor bigint;
BEGIN
    IF current_setting('pyrelease.release_floor', true) = v_xid THEN
        RETURN;
    END IF;
    -- Every id drawn from now on is above the sequence's last value (CACHE 1: ids are given
    -- out in time order, whoever draws them); none drawn yet: 0.
    v_floor := coalesce(pg_sequence_last_value('real_estate.release_event_id_seq'::regclass) + 1, 0);
    -- The key: 21061 ('RE') in the top 16 bits, the floor in the low 48 (a higher floor is
    -- announced as 2^48 - 1, still a floor). Shared: writers never wait for each other.
    PERFORM pg_advisory_xact_lock_shared((21061::bigint << 48) + least(v_floor, 281474976710655));
    PERFORM set_config('pyrelease.release_floor', v_xid, true);
END;
$function$;

COMMENT ON FUNCTION real_estate.release_event_announce_floor() IS 'Announces, before the transaction draws its first real_estate.release_event id, the lowest id it may draw (its floor: the identity sequence''s last value plus one, read now; the sequence has CACHE 1, so every id drawn later is above it, whichever session draws it). The announcement is a transaction-level shared advisory lock on the key 21061 * 2^48 + floor (the floor capped at 2^48 - 1), which every role sees in pg_locks without any privilege: real_estate.release_event_floor reads it, and release_events() holds back the events after a gap only while a transaction whose floor is at or below that gap runs. Once per transaction (the transaction-local setting pyrelease.release_floor holds its xid): later statements draw higher ids. A subtransaction that rolls back takes its announcement with it (and its ids, which can then never be committed); the next insert announces again. Shared locks never conflict: writers never wait for each other. Called by the BEFORE INSERT statement trigger release_event_announce on a single node, and by release_rows on a Citus coordinator (which gives out the ids; the trigger fires on the workers'' shards, after that).';

REVOKE ALL ON FUNCTION real_estate.release_event_announce_floor() FROM PUBLIC;
