-- dbkit:no-transaction
-- 012: indexes for the clause search page and the expiry report.
-- Why: contract and contract_clause are large in production; building these indexes
-- without blocking writes needs CREATE INDEX CONCURRENTLY, which cannot run in a
-- transaction block, hence the directive above. IF NOT EXISTS makes a re-run safe.

CREATE INDEX CONCURRENTLY IF NOT EXISTS contract_clause_category_idx
    ON public.contract_clause (category, contract_id);

CREATE INDEX CONCURRENTLY IF NOT EXISTS contract_active_end_date_idx
    ON public.contract (end_date)
    WHERE status = 'active';

CREATE INDEX CONCURRENTLY IF NOT EXISTS contract_party_name_lower_idx
    ON contract_party (lower(name));
