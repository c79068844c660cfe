-- 009: log every contract status change into activities.
-- Why: auditors asked for a trail of who moved a contract to active or terminated;
-- doing it in a trigger catches changes made by the API, by batch jobs and by hand.
-- The acting user comes from the session setting app.user_id, set by the API.

CREATE OR REPLACE FUNCTION public.log_contract_status_change()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_actor bigint;
BEGIN
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;

    -- current_setting(..., true) returns NULL instead of failing when the setting is absent;
    -- an empty string (setting reset) is treated the same way.
    v_actor := NULLIF(current_setting('app.user_id', true), '')::bigint;

    INSERT INTO public.activities (organization_id, actor_id, contract_id, action, details)
    VALUES (
        NEW.organization_id,
        v_actor,
        NEW.id,
        'contract.status_changed',
        jsonb_build_object(
            'from', OLD.status,
            'to', NEW.status,
            'note', format('status %s -> %s; logged by trigger', OLD.status, NEW.status)
        )
    );

    RETURN NEW;
END;
$fn$;

COMMENT ON FUNCTION public.log_contract_status_change() IS 'AFTER UPDATE trigger on contract: writes a contract.status_changed activity';

CREATE TRIGGER contract_log_status_change
    AFTER UPDATE OF status ON contract
    FOR EACH ROW
    EXECUTE FUNCTION public.log_contract_status_change();
