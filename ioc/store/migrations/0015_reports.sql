-- Citizens' reports (phản ánh hiện trường, issue 17): one record whichever way a report came (the public form,
-- Zalo, an operator taking a hotline call), its lifecycle received -> assigned -> in_progress -> resolved | rejected
-- with one report_events line per step, its photos, and every refused submission kept with its reason.
--
-- Photos are bytea rows of their own table, not files: after re-encoding (at most 1600 px, JPEG) one is 100-400 KB
-- and a report has at most three, plus the photos of the fix, so a district's volume is small; in the database a
-- photo is written in the same transaction as its report or step (never a file without its row or the reverse),
-- is backed up and restored with it, follows the same access rules, and is served by whichever host runs the
-- wall or the CLI without a shared folder. Camera snapshots, thousands a day and rotated, stay files.
--
-- A point is two doubles (WGS84): plain PostgreSQL has no geometry type and a report needs no spatial index; the
-- near-duplicate search reads one category's recent reports inside a bounding box (reports_recent_idx).

CREATE TABLE IF NOT EXISTS reports (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            text             NOT NULL UNIQUE CHECK (code ~ '^PA-[0-9A-Z]{5}-[0-9A-Z]{5}$'),
    category        text             NOT NULL CHECK (length(category) BETWEEN 2 AND 64),
    description     text             NOT NULL CHECK (length(description) BETWEEN 1 AND 10000),
    lon             double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat             double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    location_source text             NOT NULL CHECK (location_source IN ('gps', 'map', 'commune', 'operator')),
    commune_code    text             NOT NULL,
    unit_id         text             NOT NULL,
    phone           text             CHECK (phone ~ '^84[0-9]{9,10}$'),
    channel         text             NOT NULL CHECK (channel IN ('web', 'zalo', 'operator')),
    status          text             NOT NULL DEFAULT 'received'
                                     CHECK (status IN ('received', 'assigned', 'in_progress', 'resolved', 'rejected')),
    assignee        text,
    deadline        timestamptz      NOT NULL,
    duplicate_of    bigint           REFERENCES reports (id),
    address_hash    text,
    created_by      text             NOT NULL,
    created_at      timestamptz      NOT NULL DEFAULT now(),
    updated_at      timestamptz      NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    CHECK (duplicate_of IS NULL OR duplicate_of <> id),
    CHECK ((status IN ('resolved', 'rejected')) = (closed_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS reports_recent_idx ON reports (category, created_at DESC);
CREATE INDEX IF NOT EXISTS reports_open_idx ON reports (status, deadline) WHERE status NOT IN ('resolved', 'rejected');
CREATE INDEX IF NOT EXISTS reports_unit_idx ON reports (unit_id, created_at DESC);
CREATE INDEX IF NOT EXISTS reports_phone_idx ON reports (phone, created_at DESC) WHERE phone IS NOT NULL;
CREATE INDEX IF NOT EXISTS reports_address_idx ON reports (address_hash, created_at DESC) WHERE address_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS reports_duplicate_idx ON reports (duplicate_of) WHERE duplicate_of IS NOT NULL;

-- The audit trail: every step, by whom (a username, 'public' for the form, the operator for the hotline).
CREATE TABLE IF NOT EXISTS report_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id   bigint      NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL CHECK (length(actor) BETWEEN 1 AND 128),
    action      text        NOT NULL
                            CHECK (action IN ('received', 'linked', 'assign', 'progress', 'resolve', 'reject', 'note')),
    from_status text,
    to_status   text        NOT NULL,
    unit_id     text,
    note        text        CHECK (length(note) <= 4000)
);
CREATE INDEX IF NOT EXISTS report_events_report_idx ON report_events (report_id, at, id);

CREATE TABLE IF NOT EXISTS report_photos (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id    bigint      NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    event_id     bigint      REFERENCES report_events (id) ON DELETE CASCADE,
    kind         text        NOT NULL CHECK (kind IN ('report', 'fix')),
    content_type text        NOT NULL CHECK (content_type = 'image/jpeg'),
    width        integer     NOT NULL CHECK (width > 0),
    height       integer     NOT NULL CHECK (height > 0),
    sha256       text        NOT NULL CHECK (length(sha256) = 64),
    data         bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS report_photos_report_idx ON report_photos (report_id, id);

-- Refused submissions, like a dead letter: the reason, a summary of what was sent (never the photos), and the
-- sender's address and phone as keyed hashes, enough to see abuse from one source without keeping who it was.
CREATE TABLE IF NOT EXISTS report_rejections (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    channel      text        NOT NULL CHECK (channel IN ('web', 'zalo', 'operator')),
    reason       text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 64),
    detail       text        NOT NULL DEFAULT '',
    address_hash text,
    phone_hash   text,
    summary      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS report_rejections_at_idx ON report_rejections (at DESC);
CREATE INDEX IF NOT EXISTS report_rejections_reason_idx ON report_rejections (reason, at DESC);
