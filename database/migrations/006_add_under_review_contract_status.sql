-- 006: new contract status 'under_review', between draft and active.
-- Why: parsed contracts wait for a human review before they go live.
-- Kept in a file of its own: a value added by ALTER TYPE ... ADD VALUE cannot be used
-- in the transaction that adds it, so nothing here (or in the same transaction) uses it.

ALTER TYPE public.contract_status ADD VALUE IF NOT EXISTS 'under_review' BEFORE 'active';
