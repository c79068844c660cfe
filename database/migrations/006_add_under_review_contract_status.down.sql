-- Reverses 006_add_under_review_contract_status.sql. PostgreSQL cannot drop a value from
-- an enum, so contract_status is recreated without 'under_review' and contract.status is
-- moved onto it (its index is rebuilt). Contracts under review go back to 'draft', the
-- status they had before the review step existed.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '15min';

UPDATE public.contract SET status = 'draft' WHERE status = 'under_review';

ALTER TYPE public.contract_status RENAME TO contract_status_with_review;

CREATE TYPE public.contract_status AS ENUM (
    'draft',
    'active',
    'expired',
    'terminated'
);

ALTER TABLE public.contract
    ALTER COLUMN status DROP DEFAULT;

ALTER TABLE public.contract
    ALTER COLUMN status TYPE public.contract_status USING status::text::public.contract_status;

ALTER TABLE public.contract
    ALTER COLUMN status SET DEFAULT 'draft';

DROP TYPE public.contract_status_with_review;
