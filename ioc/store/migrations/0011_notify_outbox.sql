-- The transactional outbox of duty-officer notifications (ioc/notify/outbox.py).
-- The writer adds rows in the same transaction as the alert transition they come from; the escalation scheduler adds
-- later ladder steps and reminders; senders claim due rows with FOR UPDATE SKIP LOCKED. One row per idempotency key
-- (alert, officer, channel, step, and the reminder number or other suffix), so a replay or a second scheduler adds
-- nothing twice. A row's life: pending -> sending -> sent -> delivered (callback) | failed | fallback (the next
-- channel got a row of its own) | cancelled (acknowledged or resolved before it went out).
-- A sender claims due rows by moving next_attempt_at to the end of its lease (they stay 'pending' until it starts
-- sending each one); while a row is 'sending', next_attempt_at is again the end of the lease.

CREATE TABLE IF NOT EXISTS notify_outbox (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key     text        NOT NULL UNIQUE,
    alert_id            uuid        NOT NULL,
    alert_key           text        NOT NULL,
    officer_id          text        NOT NULL,
    channel_id          text,
    step                int         NOT NULL,
    kind                text        NOT NULL CHECK (kind IN ('alert_opened', 'alert_escalated', 'alert_reminder',
                                                            'alert_resolved')),
    status              text        NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'delivered', 'failed',
                                                              'cancelled', 'fallback')),
    attempts            int         NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL,
    due_at              timestamptz NOT NULL,
    provider_message_id text,
    reason              text        NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    delivered_at        timestamptz,
    -- Beyond the shared contract: the severity the message reports and why it was planned
    -- ('' | 'ladder' | 'severity' for alert_escalated), so a message says what was true when it was decided.
    severity            text        NOT NULL DEFAULT '',
    cause               text        NOT NULL DEFAULT '',
    -- The sender that claimed the row last: only it may start sending it (a reclaim after its lease ran out wins).
    claimed_by          text        NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS notify_outbox_due_idx ON notify_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS notify_outbox_sending_idx ON notify_outbox (next_attempt_at) WHERE status = 'sending';
CREATE INDEX IF NOT EXISTS notify_outbox_alert_idx ON notify_outbox (alert_id, officer_id);
CREATE INDEX IF NOT EXISTS notify_outbox_provider_idx ON notify_outbox (channel_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
-- A failed row's next_attempt_at is when it failed: the wall lists them by that.
CREATE INDEX IF NOT EXISTS notify_outbox_failed_idx ON notify_outbox (next_attempt_at DESC) WHERE status = 'failed';

-- Wake the senders (LISTEN ioc_notify_outbox) when rows are added; they also poll, so a lost wake-up only delays.
CREATE OR REPLACE FUNCTION ioc_notify_outbox_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ioc_notify_outbox', '');
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS notify_outbox_wake ON notify_outbox;
CREATE TRIGGER notify_outbox_wake AFTER INSERT ON notify_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION ioc_notify_outbox_wake();
