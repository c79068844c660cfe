-- Reverses 005_add_contract_reference_and_date_check.sql: drops the date check, the
-- per-organization unique reference number and the column itself, in reverse order.
SET LOCAL lock_timeout = '5s';

ALTER TABLE contract
    DROP CONSTRAINT contract_dates_check;

ALTER TABLE public.contract
    DROP CONSTRAINT contract_org_reference_number_key;

ALTER TABLE public.contract
    DROP COLUMN reference_number;
