-- Core tables, the same on plain PostgreSQL and on TimescaleDB.
-- Times are UTC (timestamptz); every row written from an event is idempotent on its natural key or event id.

CREATE TABLE IF NOT EXISTS sensor_readings (
    time        timestamptz      NOT NULL,
    station_id  text             NOT NULL,
    metric      text             NOT NULL,
    value       double precision NOT NULL,
    event_id    uuid             NOT NULL,
    received_at timestamptz      NOT NULL,
    source      text             NOT NULL,
    PRIMARY KEY (station_id, metric, time)
);
CREATE INDEX IF NOT EXISTS sensor_readings_time_idx ON sensor_readings (time DESC);

-- One row per occurrence of an alert; alert_id = uuid5(alert_key, opened_at), so every transition finds its row.
CREATE TABLE IF NOT EXISTS alerts (
    alert_id        uuid PRIMARY KEY,
    alert_key       text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    severity        text        NOT NULL CHECK (severity IN ('info', 'warning', 'major', 'critical')),
    source_kind     text        NOT NULL,
    source_id       text        NOT NULL,
    area_code       text,
    message_key     text        NOT NULL,
    params          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    value           double precision,
    opened_at       timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    resolved_at     timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by text
);
-- At most one live occurrence per key: the same danger never opens twice.
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_live_per_key ON alerts (alert_key) WHERE status <> 'resolved';
CREATE INDEX IF NOT EXISTS alerts_open_idx ON alerts (opened_at DESC) WHERE status <> 'resolved';

-- The history of every alert: one row per transition event.
CREATE TABLE IF NOT EXISTS alert_events (
    event_id   uuid PRIMARY KEY,
    alert_id   uuid        NOT NULL,
    alert_key  text        NOT NULL,
    transition text        NOT NULL,
    severity   text        NOT NULL,
    at         timestamptz NOT NULL,
    value      double precision,
    params     jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS alert_events_alert_idx ON alert_events (alert_id, at);

-- Rejected input, kept with its reason and origin.
CREATE TABLE IF NOT EXISTS dead_letters (
    event_id    uuid PRIMARY KEY,
    received_at timestamptz NOT NULL,
    source      text        NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    payload     text        NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_received_idx ON dead_letters (received_at DESC);
