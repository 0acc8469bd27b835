-- Camera analytics, the same on both flavours (hypertables are added in 0005 for TimescaleDB).

-- One row per counted crossing; the natural key makes a replayed event a no-op.
CREATE TABLE IF NOT EXISTS line_crossings (
    crossed_at   timestamptz NOT NULL,
    camera_id    text        NOT NULL,
    line_id      text        NOT NULL,
    track_id     bigint      NOT NULL,
    object_class text        NOT NULL,
    direction    text        NOT NULL CHECK (direction IN ('in', 'out')),
    event_id     uuid        NOT NULL,
    PRIMARY KEY (camera_id, line_id, track_id, direction, crossed_at)
);
CREATE INDEX IF NOT EXISTS line_crossings_time_idx ON line_crossings (crossed_at DESC);

CREATE TABLE IF NOT EXISTS detection_summaries (
    window_end      timestamptz NOT NULL,
    camera_id       text        NOT NULL,
    window_start    timestamptz NOT NULL,
    frames_analysed integer     NOT NULL,
    counts          jsonb       NOT NULL,
    snapshot        text,
    event_id        uuid        NOT NULL,
    PRIMARY KEY (camera_id, window_end)
);

CREATE TABLE IF NOT EXISTS zone_occupancy (
    at             timestamptz NOT NULL,
    camera_id      text        NOT NULL,
    zone_id        text        NOT NULL,
    counts         jsonb       NOT NULL,
    total          integer     NOT NULL,
    density_per_m2 double precision,
    max_dwell_s    double precision,
    event_id       uuid        NOT NULL,
    PRIMARY KEY (camera_id, zone_id, at)
);

-- Every change of a camera's stream state, with a snapshot where one could be taken.
CREATE TABLE IF NOT EXISTS camera_health (
    at        timestamptz NOT NULL,
    camera_id text        NOT NULL,
    status    text        NOT NULL CHECK (status IN ('online', 'offline', 'frozen', 'black')),
    detail    text        NOT NULL DEFAULT '',
    snapshot  text,
    event_id  uuid PRIMARY KEY
);
CREATE INDEX IF NOT EXISTS camera_health_camera_idx ON camera_health (camera_id, at DESC);
