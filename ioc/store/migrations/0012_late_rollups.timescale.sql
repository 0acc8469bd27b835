-- Late data on TimescaleDB. A refresh policy only looks back its start_offset (1m: 2 hours, 1h: 3 days,
-- 1d: 40 days, line counts: 2 hours), so a row written further back than that never reached the rollups.
-- The rule: when a batch holds rows older than the shortest window (2 hours, the 1-minute policies'), the
-- writer notes their buckets at every level built on them (1m, 1h, 1d; or the line counts) in rollup_backlog,
-- in the batch's transaction; Writer.refresh_late_rollups() refreshes exactly those buckets, lowest level first
-- (1h is built on 1m, 1d on 1h), then forgets them. Newer rows are left to the policies.

CREATE TABLE IF NOT EXISTS rollup_backlog (
    view_name    text        NOT NULL,
    bucket_start timestamptz NOT NULL,
    bucket_end   timestamptz NOT NULL,
    noted_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (view_name, bucket_start)
);

CREATE OR REPLACE FUNCTION ioc_note_late_buckets(p_view text, p_width interval, p_window interval,
                                                 lo timestamptz, hi timestamptz) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO rollup_backlog (view_name, bucket_start, bucket_end)
    SELECT p_view, time_bucket(p_width, lo), time_bucket(p_width, hi) + p_width
     WHERE lo < now() - p_window
    ON CONFLICT (view_name, bucket_start) DO UPDATE
       SET bucket_end = GREATEST(rollup_backlog.bucket_end, EXCLUDED.bucket_end), noted_at = now()
$$;

CREATE OR REPLACE FUNCTION ioc_refresh_readings_rollups(lo timestamptz, hi timestamptz) RETURNS void
LANGUAGE sql AS $$
    SELECT ioc_note_late_buckets('sensor_readings_1m', INTERVAL '1 minute', INTERVAL '2 hours', lo, hi);
    SELECT ioc_note_late_buckets('sensor_readings_1h', INTERVAL '1 hour', INTERVAL '2 hours', lo, hi);
    SELECT ioc_note_late_buckets('sensor_readings_1d', INTERVAL '1 day', INTERVAL '2 hours', lo, hi);
$$;

CREATE OR REPLACE FUNCTION ioc_refresh_line_counts(lo timestamptz, hi timestamptz) RETURNS void
LANGUAGE sql AS $$
    SELECT ioc_note_late_buckets('line_counts_1m', INTERVAL '1 minute', INTERVAL '2 hours', lo, hi);
$$;
