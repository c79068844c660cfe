-- 008: rename contract.value_amount to total_value.
-- Why: the parser reports both a total value and per-period amounts; "value_amount" was
-- ambiguous next to the new fields. The API already reads total_value (release 2.3).

ALTER TABLE public.contract RENAME COLUMN value_amount TO total_value;

COMMENT ON COLUMN public.contract.total_value IS 'Total contract value over its whole term, in currency_code';
