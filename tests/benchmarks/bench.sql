-- Benchmark-only objects, created in each template database after it is loaded (never in
-- an application database).
CREATE SCHEMA bench;

-- The limit: an identical copy of the property table (same columns, indexes and checks,
-- rows inserted in the same order) with no triggers, counters, logs or batches.
CREATE TABLE bench.property_bare (LIKE real_estate.property INCLUDING ALL);
INSERT INTO bench.property_bare SELECT * FROM real_estate.property;

-- Reserve candidates: AVAILABLE properties in random order; pgbench picks n at random.
CREATE TABLE bench.candidate (n integer PRIMARY KEY, id uuid NOT NULL);

-- Reserve a property through pyrelease; false when another client holds it (RE003).
CREATE FUNCTION bench.reserve_pyrelease(p_id uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM real_estate.reserve_property(p_id, gen_random_uuid());
    RETURN true;
EXCEPTION WHEN SQLSTATE 'RE003' THEN
    RETURN false;
END
$$;

-- The plain conditional UPDATE, wrapped exactly like bench.reserve_pyrelease (the same
-- function call and exception block) so that only the body differs.
CREATE FUNCTION bench.reserve_plain(p_id uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE real_estate.property
       SET status = 'RESERVED', reserved_by_id = gen_random_uuid(),
           reserved_until = now() + interval '24 hours'
     WHERE id = p_id AND status = 'AVAILABLE';
    RETURN FOUND;
EXCEPTION WHEN SQLSTATE 'RE003' THEN
    RETURN false;
END
$$;
