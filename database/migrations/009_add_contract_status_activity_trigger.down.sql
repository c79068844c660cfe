-- Reverses 009_add_contract_status_activity_trigger.sql: drops the trigger, then its
-- function (and the function's comment). Activities it already logged stay.
SET LOCAL lock_timeout = '5s';

DROP TRIGGER contract_log_status_change ON public.contract;

DROP FUNCTION public.log_contract_status_change();
