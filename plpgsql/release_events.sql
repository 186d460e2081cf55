-- real_estate.release_events(p_after_id, p_limit): the release events after id p_after_id,
-- in id order, never skipping one: events past a gap are held back while a running writer
-- may still fill it; events purged after the cursor raise RE030. p_after_id 0: from the
-- oldest kept. READ COMMITTED only; read-only, not SECURITY DEFINER.
CREATE OR REPLACE FUNCTION real_estate.release_events(
    p_after_id bigint DEFAULT 0,
    p_limit integer DEFAULT 1000
)
RETURNS SETOF real_estate.release_event
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_start bigint;
    v_ids bigint[];
    v_upto bigint;
    v_floor bigint;
    v_purged bigint;
BEGIN
    IF p_after_id IS NULL OR p_after_id < 0 THEN
        RAISE EXCEPTION 'after id must be a non-negative integer, got %', coalesce(p_after_id::text, 'NULL')
            USING ERRCODE = 'RE010';
    ELSIF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 10000, got %', coalesce(p_limit::text, 'NULL')
            USING ERRCODE = 'RE010';
    ELSIF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'release_events() reads in READ COMMITTED only, not %', current_setting('transaction_isolation')
            USING ERRCODE = '0A000';
    END IF;

    v_start := p_after_id;
    IF p_after_id = 0 THEN  -- a new consumer: from the oldest event kept
        SELECT coalesce(max(p.purged_through), 0) INTO v_start FROM real_estate.release_event_purged AS p;
    END IF;
    v_ids := ARRAY(SELECT e.id FROM real_estate.release_event AS e
                    WHERE e.id > v_start ORDER BY e.id LIMIT p_limit);
    v_upto := v_ids[cardinality(v_ids)];
    IF v_upto - v_start > cardinality(v_ids) THEN
        -- Gaps: each id missing was drawn before that read. One at or above the floor of
        -- the running writers may still be committed: stop before the first such gap. One
        -- below is final (its writer ended: committed, the new read below sees it).
        v_floor := real_estate.release_event_floor();
        IF v_floor IS NOT NULL THEN
            SELECT coalesce(min(s.prev), v_upto) INTO v_upto
              FROM (SELECT u.id, coalesce(lag(u.id) OVER (ORDER BY u.n), v_start) AS prev
                      FROM unnest(v_ids) WITH ORDINALITY AS u(id, n)) AS s
             WHERE s.id > s.prev + 1 AND s.id > v_floor;
        END IF;
    END IF;

    RETURN QUERY
        SELECT e.*
          FROM real_estate.release_event AS e
         WHERE e.id > v_start AND e.id <= v_upto
         ORDER BY e.id
         LIMIT p_limit;

    -- Events after the cursor purged (before that read, or while the events were read):
    -- said, never skipped.
    IF p_after_id > 0 THEN
        SELECT coalesce(max(p.purged_through), 0) INTO v_purged FROM real_estate.release_event_purged AS p;
        IF v_purged > p_after_id THEN
            RAISE EXCEPTION 'release events after id % were purged up to id % (older than the log retention); ids from % on are kept',
                            p_after_id, v_purged, v_purged + 1
                USING ERRCODE = 'RE030',
                      HINT = format('Read again after id %s: nothing from there on was purged.', v_purged);
        END IF;
    END IF;
END;
$function$;

COMMENT ON FUNCTION real_estate.release_events(bigint, integer) IS 'The release events after id p_after_id, in id order, at most p_limit (1 to 10000; RE010 otherwise, or when NULL or negative): what a consumer reads after its cursor (pyrelease.listen, pyrelease watch). No event is ever skipped, so a consumer may advance its cursor to the last id it got. Ids are given out at insert (CACHE 1: in time order) but become visible at commit, so a running transaction can hold a lower id than one already committed: every writer announces, before it draws its first id, the lowest id it may draw (release_event_announce_floor; the floors of the running transactions: release_event_floor, from pg_locks, which any role reads). When the ids read have a gap at or above the lowest floor, only the events before that gap are returned (the rest come once the writer ends: its commit notifies); a gap below every floor is final (rolled back, or never used) and passed: the events past it are read again in a new snapshot, which sees every writer that ended before the floors were read. A transaction that cannot fill a gap (all its ids are above it) never holds it back, however long it stays open. Purged events are never skipped silently: when the retention purge (purge_release_log) removed events after p_after_id, it raises RE030 (''release events after id N were purged up to id W ...; ids from W+1 on are kept''); p_after_id 0 is a new consumer: it gets the events still kept, from the oldest (real_estate.release_event_purged names what was purged), never RE030. On Citus the coordinator gives out every id and release_rows announces its writer''s floor there; events inserted by hand through the coordinator announce nothing. READ COMMITTED only (the second read needs its own snapshot): other isolation levels get SQLSTATE 0A000. Read-only, takes no lock beyond a normal read; not SECURITY DEFINER: it reads what the caller may read.';

REVOKE ALL ON FUNCTION real_estate.release_events(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.release_events(bigint, integer) TO real_estate_reader;
