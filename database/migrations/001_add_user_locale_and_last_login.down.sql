-- Reverses 001_add_user_locale_and_last_login.sql: drops app_user.last_login_at and
-- app_user.locale (with its comment). Rolling back loses every user's locale and last
-- sign-in time.
SET LOCAL lock_timeout = '5s';

ALTER TABLE app_user
    DROP COLUMN last_login_at;

ALTER TABLE app_user
    DROP COLUMN locale;
