-- real_estate.project_guard_available_plots(): trigger function on real_estate.project that
-- keeps available_plots the database's own. As a BEFORE INSERT row trigger it starts a new
-- project at 0 (it has no properties yet). As an AFTER UPDATE statement trigger it refuses
-- (RE011) any statement that changed the counter unless it came straight from the counter
-- trigger function real_estate.property_sync_available_plots (trigger depth, the table's
-- owner, as that SECURITY DEFINER function runs, and the call stack are checked), so
-- neither a user, even one granted the column, nor another trigger can write it; a write
-- that leaves the value as it was (an ORM saving every column) passes. Checked once per
-- statement, so the counter trigger pays for it once per batch, not once per project.
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
        RETURN NEW;
    END IF;

    IF pg_trigger_depth() >= 2 THEN
        -- The call stack reads: this function, the UPDATE statement, then its issuer.
        GET DIAGNOSTICS v_context = PG_CONTEXT;
        IF EXISTS (SELECT 1
                     FROM pg_class AS c
                     JOIN pg_roles AS r ON r.oid = c.relowner
                    WHERE c.oid = TG_RELID
                      AND r.rolname = current_user)
           AND (regexp_match(v_context, E'\nPL/pgSQL function ([^ ]+) '))[1]
               = 'real_estate.property_sync_available_plots()' THEN
            RETURN NULL;
        END IF;
    END IF;

    IF EXISTS (SELECT 1
                 FROM old_rows AS o
                 JOIN new_rows AS n ON n.id = o.id
                WHERE n.available_plots IS DISTINCT FROM o.available_plots) THEN
        RAISE EXCEPTION 'real_estate.project.available_plots is maintained by the database'
            USING ERRCODE = 'RE011',
                  HINT = 'Change real_estate.property rows; the counter follows them.';
    END IF;
    RETURN NULL;
END;
$function$;

-- The triggers that call it (re-created in place: no window without them).
CREATE OR REPLACE TRIGGER project_guard_available_plots_insert
    BEFORE INSERT ON real_estate.project
    FOR EACH ROW EXECUTE FUNCTION real_estate.project_guard_available_plots();
CREATE OR REPLACE TRIGGER project_guard_available_plots_update
    AFTER UPDATE ON real_estate.project
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION real_estate.project_guard_available_plots();

REVOKE ALL ON FUNCTION real_estate.project_guard_available_plots() FROM PUBLIC;
