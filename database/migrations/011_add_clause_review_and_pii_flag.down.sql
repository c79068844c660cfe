-- Reverses 011_add_clause_review_and_pii_flag.sql, in reverse order: drops
-- contract.contains_pii, the review check, then reviewed_at and reviewed_by. Rolling back
-- loses the PII flags and every clause's review sign-off.
SET LOCAL lock_timeout = '5s';

ALTER TABLE contract
    DROP COLUMN contains_pii;

ALTER TABLE public.contract_clause
    DROP CONSTRAINT contract_clause_review_check;

ALTER TABLE public.contract_clause
    DROP COLUMN reviewed_at,
    DROP COLUMN reviewed_by;
