-- The Zalo Official Account tokens of each zalo_zns channel. Zalo rotates the refresh token on every refresh (the old
-- one stops working), so the current pair lives here, not in the environment; ioc/notify/tokens.py refreshes under
-- an advisory lock so two workers never refresh at once.
CREATE TABLE IF NOT EXISTS zalo_tokens (
    channel_id    text        PRIMARY KEY,
    access_token  text        NOT NULL,
    refresh_token text        NOT NULL,
    expires_at    timestamptz NOT NULL,
    refreshed_at  timestamptz NOT NULL DEFAULT now(),
    refresh_count bigint      NOT NULL DEFAULT 0
);
