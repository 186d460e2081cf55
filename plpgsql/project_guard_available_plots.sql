-- real_estate.project_guard_available_plots(): trigger function keeping available_plots the
-- database's own: a new project starts at 0 (BEFORE INSERT), and an UPDATE statement that
-- changes a counter is refused (RE011) unless each change is exactly what apply_counter_deltas
-- announced for that row, one trigger level below, as the table's owner. One check per
-- statement, whatever its rows. Reads no message.
CREATE OR REPLACE FUNCTION real_estate.project_guard_available_plots()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_write text;
    v_changes text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.available_plots := 0;
        RETURN NEW;
    END IF;

    -- The statement's changed counters as ',<id>:<delta>,', each old row paired with its new
    -- row by position (PostgreSQL appends both transition tables row by row, in step); a row
    -- whose id changed with its counter is named by both ids, which no announcement holds.
    v_changes := ARRAY(
        SELECT ',' || n.id::text || CASE WHEN n.id = o.id THEN '' ELSE '/' || o.id::text END
               || ':' || (n.available_plots::bigint - o.available_plots)::text || ','
          FROM (SELECT row_number() OVER () AS pos, r.id, r.available_plots FROM old_rows AS r) AS o
          JOIN (SELECT row_number() OVER () AS pos, r.id, r.available_plots FROM new_rows AS r) AS n
            ON n.pos = o.pos
         WHERE n.available_plots IS DISTINCT FROM o.available_plots);
    IF cardinality(v_changes) = 0 THEN
        RETURN NULL;
    END IF;

    v_write := current_setting('pyrelease.counter_write', true);
    IF v_write <> ''
       AND starts_with(v_write, (pg_trigger_depth() - 1)::text || '|,')
       AND NOT EXISTS (SELECT 1
                         FROM unnest(v_changes) AS c(change)
                        WHERE c.change NOT IN (SELECT ',' || a.entry || ','
                                                 FROM unnest(string_to_array(split_part(v_write, '|', 2), ','))
                                                      AS a(entry)))
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
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION real_estate.project_guard_available_plots();

COMMENT ON FUNCTION real_estate.project_guard_available_plots() IS 'Trigger function on real_estate.project that keeps available_plots the database''s own. As a BEFORE INSERT row trigger it starts a new project at 0 (it has no properties yet). As an AFTER UPDATE statement trigger it looks at the rows whose counter the statement changed (each old row paired with its new row in the transition tables) and refuses the statement (RE011) unless every change is exactly one real_estate.apply_counter_deltas announced in pyrelease.counter_write: same id before and after, the announced delta for that id (so a host BEFORE UPDATE trigger on project that alters the counter while riding on that UPDATE is refused, whatever its name''s place in the firing order), issued one trigger level below the announcement (not by a trigger the counter write fires in turn), as the table''s owner (the SECURITY DEFINER counter routines run as the owner; a session or trigger of any other role that sets the announcement itself runs as itself and is refused, even granted the column). The owner itself, who could as well drop the trigger, is trusted: an announcement it writes by hand at top level lets its own matching write through. One bypass for the counter trigger and repair_counters alike, checked once per statement (the announcement read once, the owner looked up once), whatever the number of rows. Reads no message text (a translated lc_messages changes nothing); a statement that leaves every counter as it was passes.';

REVOKE ALL ON FUNCTION real_estate.project_guard_available_plots() FROM PUBLIC;
