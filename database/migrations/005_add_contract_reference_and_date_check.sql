-- 005: contracts get a human reference number, unique within an organization, and a
-- check that a contract never ends before it starts.
-- Why: customers quote their own reference ("MSA-2026-014") in support tickets; bad
-- date ranges from the first CSV import broke the expiry report.

ALTER TABLE public.contract
    ADD COLUMN reference_number text;

ALTER TABLE public.contract
    ADD CONSTRAINT contract_org_reference_number_key UNIQUE (organization_id, reference_number);

ALTER TABLE contract
    ADD CONSTRAINT contract_dates_check CHECK (end_date IS NULL OR start_date IS NULL OR end_date >= start_date);
