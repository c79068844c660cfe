-- Reverses 002_add_contract_pii_mapping.sql: drops contract_pii_mapping with its index,
-- comments and identity sequence. Rolling back loses every stored PII mapping, so
-- pseudonymized contracts can no longer be re-identified: back the table up first.
SET LOCAL lock_timeout = '5s';

DROP TABLE public.contract_pii_mapping;
