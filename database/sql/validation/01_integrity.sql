-- Integrity checks, run after a schema is applied and after test data is loaded.
-- Convention: every query returns the OFFENDING rows; zero rows means the check passed.
-- These cover rules foreign keys and check constraints cannot express.

-- check: contract owner belongs to the same organization as the contract
SELECT c.id AS contract_id, c.organization_id, u.id AS owner_id, u.organization_id AS owner_organization_id
FROM public.contract c
JOIN public.app_user u ON u.id = c.owner_id
WHERE u.organization_id <> c.organization_id;

-- check: activity rows point to a contract of the same organization
SELECT a.id AS activity_id, a.occurred_at, a.organization_id, c.id AS contract_id, c.organization_id AS contract_organization_id
FROM public.activities a
JOIN public.contract c ON c.id = a.contract_id
WHERE a.organization_id <> c.organization_id;

-- check: no activity rows in the default partition (a monthly partition is missing)
SELECT a.id AS activity_id, a.occurred_at, a.action
FROM public.activities_default a;

-- check: every active or under-review contract has at least two parties
SELECT c.id AS contract_id, c.status, count(p.id) AS party_count
FROM public.contract c
LEFT JOIN public.contract_party p ON p.contract_id = c.id
WHERE c.status IN ('active', 'under_review')
GROUP BY c.id, c.status
HAVING count(p.id) < 2;

-- check: contracts flagged contains_pii have an encrypted PII mapping
SELECT c.id AS contract_id, c.title
FROM public.contract c
WHERE c.contains_pii
  AND NOT EXISTS (SELECT 1 FROM public.contract_pii_mapping m WHERE m.contract_id = c.id);

-- check: every organization with active users has at least one active admin
SELECT o.id AS organization_id, o.slug
FROM public.organization o
WHERE EXISTS (SELECT 1 FROM public.app_user u WHERE u.organization_id = o.id AND u.is_active)
  AND NOT EXISTS (
        SELECT 1 FROM public.app_user u
        WHERE u.organization_id = o.id AND u.is_active AND u.role = 'admin'
  );
