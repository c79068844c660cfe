-- Reference data: contract types and party roles offered in the UI.
-- Idempotent: safe to run on every deploy; existing rows are left as they are.

INSERT INTO public.contract_type (code, label, description, sort_order) VALUES
    ('nda',      'Non-Disclosure Agreement',   'Mutual or one-way confidentiality agreement', 10),
    ('msa',      'Master Services Agreement',  'Framework terms for ongoing services',        20),
    ('sow',      'Statement of Work',          'Scope, deliverables and fees under an MSA',   30),
    ('license',  'Software License',           'Right to use software, on-premise or SaaS',   40),
    ('lease',    'Lease',                      'Real estate or equipment lease',              50),
    ('employment', 'Employment Contract',      'Contract between employer and employee',      60),
    ('other',    'Other',                      NULL,                                          99)
ON CONFLICT DO NOTHING;

INSERT INTO party_role (code, label) VALUES
    ('customer',   'Customer'),
    ('supplier',   'Supplier'),
    ('licensor',   'Licensor'),
    ('licensee',   'Licensee'),
    ('landlord',   'Landlord'),
    ('tenant',     'Tenant'),
    ('employer',   'Employer'),
    ('employee',   'Employee'),
    ('guarantor',  'Guarantor'),
    ('witness',    'Witness')
ON CONFLICT (code) DO NOTHING;
