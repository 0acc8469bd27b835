-- Server-side sessions of the dashboards (issue 12, hole 3): the browser's cookie holds only a random token; the
-- row, found by the token's SHA-256, says whose session it is and until when. Revoked by logout, by disabling or
-- deleting the user (ON DELETE CASCADE), by a password change, by an admin (`ioc users revoke`). A kiosk session
-- (the wall's display account) lives long and has no idle timeout; every other one expires after an idle time
-- and an absolute lifetime (dashboards/settings.py).

ALTER TABLE users ADD COLUMN IF NOT EXISTS disabled_at timestamptz;
ALTER TABLE users ADD COLUMN IF NOT EXISTS kiosk boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS wall_sessions (
    token_sha256 text        PRIMARY KEY CHECK (length(token_sha256) = 64),
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text        NOT NULL CHECK (kind IN ('interactive', 'kiosk')),
    csrf         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    remote       text,
    revoked_at   timestamptz,
    revoked_why  text
);
CREATE INDEX IF NOT EXISTS wall_sessions_user_idx ON wall_sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX IF NOT EXISTS wall_sessions_expires_idx ON wall_sessions (expires_at);
