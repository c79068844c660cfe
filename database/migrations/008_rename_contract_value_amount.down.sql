-- Reverses 008_rename_contract_value_amount.sql: renames contract.total_value back to
-- value_amount and restores the column's comment from before the rename. Clients that
-- already read total_value (release 2.3 and later) break until they are rolled back too.
SET LOCAL lock_timeout = '5s';

ALTER TABLE public.contract RENAME COLUMN total_value TO value_amount;

COMMENT ON COLUMN public.contract.value_amount IS 'Total contract value in currency_code';
