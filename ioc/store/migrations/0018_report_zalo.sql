-- Citizens' reports through the Zalo Official Account (issue 17, Zalo intake): the follower's Zalo user id on the
-- report, the signed webhook events received (each applied once, processed after the 200 Zalo wants within 2 s),
-- the conversation's draft per follower (with an expiry) and its photos, and the messages to send back through the
-- OA (a receipt with the tracking code, prompts, status changes), retried until sent or failed, never dropped.

ALTER TABLE reports ADD COLUMN IF NOT EXISTS zalo_user_id text CHECK (zalo_user_id ~ '^[0-9]{1,32}$');
ALTER TABLE reports ADD COLUMN IF NOT EXISTS zalo_lang text CHECK (zalo_lang IN ('vi', 'en'));
CREATE INDEX IF NOT EXISTS reports_zalo_user_idx ON reports (zalo_user_id, created_at DESC) WHERE zalo_user_id IS NOT NULL;

-- Every correctly signed, fresh event, once (dedupe: its signature); processed in id order per follower.
CREATE TABLE IF NOT EXISTS report_zalo_inbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key   text        NOT NULL UNIQUE,
    zalo_user_id text        NOT NULL CHECK (zalo_user_id ~ '^[0-9]{1,32}$'),
    event_name   text        NOT NULL CHECK (length(event_name) BETWEEN 1 AND 64),
    event        jsonb       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    outcome      text
);
CREATE INDEX IF NOT EXISTS report_zalo_inbox_pending_idx ON report_zalo_inbox (id) WHERE processed_at IS NULL;
CREATE INDEX IF NOT EXISTS report_zalo_inbox_user_idx ON report_zalo_inbox (zalo_user_id, received_at DESC);

-- One conversation per follower; a draft untouched past expires_at is dropped (a new one starts).
CREATE TABLE IF NOT EXISTS report_zalo_drafts (
    zalo_user_id text             PRIMARY KEY CHECK (zalo_user_id ~ '^[0-9]{1,32}$'),
    lang         text             NOT NULL DEFAULT 'vi' CHECK (lang IN ('vi', 'en')),
    category     text,
    description  text             CHECK (length(description) <= 10000),
    lon          double precision CHECK (lon BETWEEN -180 AND 180),
    lat          double precision CHECK (lat BETWEEN -90 AND 90),
    started_at   timestamptz      NOT NULL DEFAULT now(),
    updated_at   timestamptz      NOT NULL DEFAULT now(),
    expires_at   timestamptz      NOT NULL
);

CREATE TABLE IF NOT EXISTS report_zalo_draft_photos (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    zalo_user_id text    NOT NULL REFERENCES report_zalo_drafts (zalo_user_id) ON DELETE CASCADE,
    width        integer NOT NULL CHECK (width > 0),
    height       integer NOT NULL CHECK (height > 0),
    data         bytea   NOT NULL
);
CREATE INDEX IF NOT EXISTS report_zalo_draft_photos_user_idx ON report_zalo_draft_photos (zalo_user_id, id);

-- Messages to a follower through the OA: written in the transaction of what they tell (the report, its step),
-- sent by the wall's Zalo worker, retried with backoff, failed with the reason after max attempts.
CREATE TABLE IF NOT EXISTS report_zalo_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    zalo_user_id text        NOT NULL CHECK (zalo_user_id ~ '^[0-9]{1,32}$'),
    kind         text        NOT NULL CHECK (kind IN ('prompt', 'received', 'status')),
    params       jsonb       NOT NULL DEFAULT '{}',
    report_code  text,
    status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts     integer     NOT NULL DEFAULT 0,
    next_at      timestamptz NOT NULL DEFAULT now(),
    last_error   text,
    msg_id       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz
);
CREATE INDEX IF NOT EXISTS report_zalo_outbox_due_idx ON report_zalo_outbox (next_at, id) WHERE status = 'pending';
