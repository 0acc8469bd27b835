-- Issue 13 point 1 and issue 12 hole 4.
-- provider_ref: what a provider is given for a message (eSMS RequestId, ZNS tracking_id), derived from our idempotency
-- key to fit the provider's limit (eSMS: at most 50 characters; our keys are 61-66). Stored beside the key and used to
-- match delivery reports that carry it (an eSMS 124 answer has no SMSID).
ALTER TABLE notify_outbox ADD COLUMN IF NOT EXISTS provider_ref text;
CREATE INDEX IF NOT EXISTS notify_outbox_provider_ref_idx ON notify_outbox (channel_id, provider_ref)
    WHERE provider_ref IS NOT NULL;

-- Signed or token-protected provider callbacks seen recently (a Zalo event's signature, an eSMS MO's smsid, a SpeedSMS
-- inbound body's digest): the same one twice is applied once, so a captured callback cannot be replayed.
CREATE TABLE IF NOT EXISTS notify_callback_seen (
    channel_id  text        NOT NULL,
    dedupe_key  text        NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, dedupe_key)
);
CREATE INDEX IF NOT EXISTS notify_callback_seen_at_idx ON notify_callback_seen (seen_at);

-- Zalo: when the scheduled refresh was last refused, and why (shown to admins by `ioc notify tokens`).
ALTER TABLE zalo_tokens ADD COLUMN IF NOT EXISTS refresh_error text;
ALTER TABLE zalo_tokens ADD COLUMN IF NOT EXISTS refresh_failed_at timestamptz;
