-- 011: reviewer sign-off on clauses, and a flag on contracts that contain PII.
-- Why: the 'under_review' step (006) needs to record who accepted each parsed clause;
-- contracts flagged contains_pii must have a contract_pii_mapping row (validation check).
-- reviewed_by may later become NULL (user deleted) while reviewed_at stays, so the check
-- only requires a review time whenever a reviewer is recorded.

ALTER TABLE public.contract_clause
    ADD COLUMN reviewed_by bigint REFERENCES public.app_user (id) ON DELETE SET NULL,
    ADD COLUMN reviewed_at timestamptz;

ALTER TABLE public.contract_clause
    ADD CONSTRAINT contract_clause_review_check
        CHECK (reviewed_by IS NULL OR reviewed_at IS NOT NULL);

ALTER TABLE contract
    ADD COLUMN contains_pii boolean NOT NULL DEFAULT false;
