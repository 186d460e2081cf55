-- real_estate.project_guard_available_plots(): trigger function keeping available_plots the
-- database's own: a new project starts at 0 (BEFORE INSERT), and a changed counter (AFTER
-- UPDATE) is refused (RE011) unless it is exactly what real_estate.apply_counter_deltas
-- announced for that row, one trigger level below, as the table's owner. Reads no message.
CREATE OR REPLACE FUNCTION real_estate.project_guard_available_plots()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_write text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.available_plots := 0;
        RETURN NEW;
    END IF;

    v_write := current_setting('pyrelease.counter_write', true);
    IF v_write <> ''
       AND NEW.id = OLD.id
       AND starts_with(v_write, (pg_trigger_depth() - 1)::text || '|,')
       AND strpos(v_write, ',' || NEW.id::text || ':'
                           || (NEW.available_plots::bigint - OLD.available_plots)::text || ',') > 0
       AND EXISTS (SELECT 1
                     FROM pg_class AS c
                    WHERE c.oid = TG_RELID
                      AND pg_get_userbyid(c.relowner) = current_user) THEN
        RETURN NULL;
    END IF;

    RAISE EXCEPTION 'real_estate.project.available_plots is maintained by the database'
        USING ERRCODE = 'RE011',
              HINT = 'Change real_estate.property rows; the counter follows them.';
END;
$function$;

-- The triggers that call it (re-created in place: no window without them).
CREATE OR REPLACE TRIGGER project_guard_available_plots_insert
    BEFORE INSERT ON real_estate.project
    FOR EACH ROW EXECUTE FUNCTION real_estate.project_guard_available_plots();
CREATE OR REPLACE TRIGGER project_guard_available_plots_update
    AFTER UPDATE ON real_estate.project
    FOR EACH ROW WHEN (OLD.available_plots IS DISTINCT FROM NEW.available_plots)
    EXECUTE FUNCTION real_estate.project_guard_available_plots();

COMMENT ON FUNCTION real_estate.project_guard_available_plots() IS 'Trigger function on real_estate.project that keeps available_plots the database''s own. As a BEFORE INSERT row trigger it starts a new project at 0 (it has no properties yet). As an AFTER UPDATE row trigger, fired only for rows whose counter changed, it refuses the change (RE011) unless it is exactly the one real_estate.apply_counter_deltas announced for that row in pyrelease.counter_write: same id before and after, the announced delta (so a host BEFORE UPDATE trigger on project that alters the counter while riding on that UPDATE is refused, whatever its name''s place in the firing order), issued one trigger level below the announcement (not by a trigger the counter write fires in turn), as the table''s owner (the SECURITY DEFINER counter routines run as the owner; a session or trigger of any other role that sets the announcement itself runs as itself and is refused, even granted the column). The owner itself, who could as well drop the trigger, is trusted: an announcement it writes by hand at top level lets its own matching write through. One bypass for the counter trigger and repair_counters alike. Reads no message text (a translated lc_messages changes nothing); a write that leaves the value as it was never reaches it.';

REVOKE ALL ON FUNCTION real_estate.project_guard_available_plots() FROM PUBLIC;
