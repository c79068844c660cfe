-- dbkit:no-transaction
-- Reverses 012_add_concurrent_search_indexes.sql: drops its three indexes without
-- blocking writes. DROP INDEX CONCURRENTLY cannot run in a transaction block (hence the
-- directive above) and takes one index at a time; IF EXISTS makes a re-run safe after a
-- failure part-way.
SET lock_timeout = '5s';

DROP INDEX CONCURRENTLY IF EXISTS public.contract_party_name_lower_idx;

DROP INDEX CONCURRENTLY IF EXISTS public.contract_active_end_date_idx;

DROP INDEX CONCURRENTLY IF EXISTS public.contract_clause_category_idx;
