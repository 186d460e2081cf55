-- real_estate.project_guard_available_plots(): row-level BEFORE INSERT OR UPDATE trigger
-- function on real_estate.project. available_plots belongs to the database: a new project
-- starts at 0 (it has no properties yet), and any write of the counter is refused unless it
-- comes straight from the counter trigger function real_estate.property_sync_available_plots
-- (trigger depth, owner and call stack are checked, so neither a user, even one granted the
-- column, nor another trigger can write it).
CREATE OR REPLACE FUNCTION real_estate.project_guard_available_plots()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_context text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.available_plots := 0;
    ELSIF NEW.available_plots IS DISTINCT FROM OLD.available_plots THEN
        -- Allowed only from inside a trigger, as the table's owner (the counter trigger
        -- function is SECURITY DEFINER), with that function as the caller on the call
        -- stack (which reads: this function, the UPDATE statement, then its issuer).
        GET DIAGNOSTICS v_context = PG_CONTEXT;
        IF pg_trigger_depth() < 2
           OR NOT EXISTS (SELECT 1
                            FROM pg_class AS c
                            JOIN pg_roles AS r ON r.oid = c.relowner
                           WHERE c.oid = TG_RELID
                             AND r.rolname = current_user)
           OR (regexp_match(v_context, E'\nPL/pgSQL function ([^ ]+) '))[1]
              IS DISTINCT FROM 'real_estate.property_sync_available_plots()' THEN
            RAISE EXCEPTION 'real_estate.project.available_plots is maintained by the database'
                USING ERRCODE = 'RE011',
                      HINT = 'Change real_estate.property rows; the counter follows them.';
        END IF;
    END IF;
    RETURN NEW;
END;
$function$;
