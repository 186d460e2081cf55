-- real_estate.release_pick_bounds(p_expiries, p_every): where the scheduled run's last pick
-- is cut into short reads: every p_every-th of the released rows' expiries, in order.
-- Immutable: no table.
CREATE OR REPLACE FUNCTION real_estate.release_pick_bounds(p_expiries timestamptz[], p_every integer)
RETURNS timestamptz[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT coalesce(array_agg(b.expiry ORDER BY b.expiry), '{}')
      FROM (SELECT x.expiry, row_number() OVER (ORDER BY x.expiry) AS n
              FROM unnest(p_expiries) AS x(expiry)) AS b
     WHERE b.n % p_every = 0;
$function$;

COMMENT ON FUNCTION real_estate.release_pick_bounds(timestamptz[], integer) IS 'The slices of the scheduled run''s last pick after a large backlog: every p_every-th of the given expiries (those of the rows the run picked), ascending. Read between consecutive bounds (release_pick''s p_above and p_up_to), each slice of the partial index holds about p_every entries of the rows the run released, so that each read of the last pick is short. Immutable: reads no table.';

REVOKE ALL ON FUNCTION real_estate.release_pick_bounds(timestamptz[], integer) FROM PUBLIC;
