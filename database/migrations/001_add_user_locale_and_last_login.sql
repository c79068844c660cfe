-- 001: add a per-user locale and the time of the last sign-in.
-- Why: Phase 2 sends contract-expiry e-mails in the user's language, and support wants
-- to see dormant accounts. Existing users get 'en-US' through the column default.

ALTER TABLE app_user
    ADD COLUMN locale text NOT NULL DEFAULT 'en-US';

ALTER TABLE app_user
    ADD COLUMN last_login_at timestamptz;

COMMENT ON COLUMN app_user.locale IS 'BCP 47 language tag used for notifications, e.g. en-US or de-DE';
