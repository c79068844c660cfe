-- Reference data: ISO 4217 currencies accepted for contract values.
-- Idempotent: ON CONFLICT DO NOTHING keeps rows that already exist.

INSERT INTO public.currency (code, name, minor_units) VALUES
    ('EUR', 'Euro', 2),
    ('USD', 'US Dollar', 2),
    ('GBP', 'Pound Sterling', 2),
    ('CHF', 'Swiss Franc', 2),
    ('SEK', 'Swedish Krona', 2),
    ('JPY', 'Yen', 0)
ON CONFLICT DO NOTHING;
