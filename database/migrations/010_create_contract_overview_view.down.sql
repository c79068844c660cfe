-- Reverses 010_create_contract_overview_view.sql: drops the dashboard view. No data is
-- lost; the dashboard falls back to its per-row queries.
DROP VIEW public.contract_overview;
