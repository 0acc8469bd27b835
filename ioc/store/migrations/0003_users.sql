-- People who may sign in to the dashboards, and an append-only log of what they did.
-- Passwords are stored only as scrypt hashes (dashboards/auth.py); unit_scopes limits what a user sees to some
-- communes or agencies (empty = the whole site).

CREATE TABLE IF NOT EXISTS users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text        NOT NULL UNIQUE CHECK (username = lower(username) AND length(username) BETWEEN 1 AND 64),
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('operator', 'leader', 'admin')),
    unit_scopes   text[]      NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Who did what, when: logins (also refused ones), logouts, acknowledgements.
CREATE TABLE IF NOT EXISTS audit_log (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    username text        NOT NULL,
    action   text        NOT NULL,
    target   text,
    detail   jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX IF NOT EXISTS audit_log_user_idx ON audit_log (username, at DESC);
