-- Reverses 004_create_contract_document.sql: drops contract_document and its indexes.
-- Rolling back loses the list of uploaded files (the files themselves stay in storage).
SET LOCAL lock_timeout = '5s';

DROP TABLE public.contract_document;
