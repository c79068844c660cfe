-- Reverses 003_create_contract_clause.sql: drops contract_clause (its keys, comment and
-- identity sequence go with it), then the clause_category type it used. Rolling back
-- loses every parsed clause; re-parsing the contracts recreates them.
SET LOCAL lock_timeout = '5s';

DROP TABLE contract_clause;

DROP TYPE clause_category;
