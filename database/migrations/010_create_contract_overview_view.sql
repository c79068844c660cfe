-- 010: contract_overview view for the dashboard.
-- Why: the dashboard listed contracts with N+1 queries for party and clause counts;
-- one view gives the list page everything it shows in a single query.

CREATE OR REPLACE VIEW public.contract_overview AS
SELECT
    c.id,
    c.organization_id,
    o.name                      AS organization_name,
    c.reference_number,
    c.title,
    c.contract_type_code,
    c.status,
    c.start_date,
    c.end_date,
    c.total_value,
    c.currency_code,
    u.full_name                 AS owner_name,
    (SELECT count(*) FROM public.contract_party p WHERE p.contract_id = c.id)  AS party_count,
    (SELECT count(*) FROM contract_clause cl WHERE cl.contract_id = c.id)      AS clause_count,
    EXISTS (SELECT 1 FROM public.contract_pii_mapping m WHERE m.contract_id = c.id) AS has_pii_mapping
FROM public.contract c
JOIN public.organization o ON o.id = c.organization_id
LEFT JOIN app_user u ON u.id = c.owner_id;

COMMENT ON VIEW public.contract_overview IS 'One row per contract with owner name and party/clause counts, for list pages';
