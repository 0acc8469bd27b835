-- Rollups of sensor_readings for plain PostgreSQL: tables with the same names and columns as the TimescaleDB
-- continuous aggregates, kept current by ioc_refresh_readings_rollups(lo, hi), which the writer calls after each
-- batch for the time range the batch touched. Each level is built from the one below, so a refresh reads only
-- the touched minutes of raw data. Buckets are cut in UTC, like TimescaleDB's time_bucket.

CREATE TABLE IF NOT EXISTS sensor_readings_1m (
    station_id text NOT NULL, metric text NOT NULL, bucket timestamptz NOT NULL,
    value_avg double precision NOT NULL, value_min double precision NOT NULL, value_max double precision NOT NULL,
    value_sum double precision NOT NULL, n bigint NOT NULL,
    PRIMARY KEY (station_id, metric, bucket)
);
CREATE TABLE IF NOT EXISTS sensor_readings_1h (LIKE sensor_readings_1m INCLUDING ALL);
CREATE TABLE IF NOT EXISTS sensor_readings_1d (LIKE sensor_readings_1m INCLUDING ALL);
CREATE INDEX IF NOT EXISTS sensor_readings_1m_bucket_idx ON sensor_readings_1m (bucket DESC);
CREATE INDEX IF NOT EXISTS sensor_readings_1h_bucket_idx ON sensor_readings_1h (bucket DESC);
CREATE INDEX IF NOT EXISTS sensor_readings_1d_bucket_idx ON sensor_readings_1d (bucket DESC);

CREATE OR REPLACE FUNCTION ioc_refresh_readings_rollups(lo timestamptz, hi timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m_lo timestamptz := date_trunc('minute', lo, 'UTC');
    m_hi timestamptz := date_trunc('minute', hi, 'UTC') + interval '1 minute';
    h_lo timestamptz := date_trunc('hour', lo, 'UTC');
    h_hi timestamptz := date_trunc('hour', hi, 'UTC') + interval '1 hour';
    d_lo timestamptz := date_trunc('day', lo, 'UTC');
    d_hi timestamptz := date_trunc('day', hi, 'UTC') + interval '1 day';
BEGIN
    INSERT INTO sensor_readings_1m AS r (station_id, metric, bucket, value_avg, value_min, value_max, value_sum, n)
    SELECT station_id, metric, date_trunc('minute', time, 'UTC'), avg(value), min(value), max(value), sum(value), count(*)
      FROM sensor_readings WHERE time >= m_lo AND time < m_hi
     GROUP BY 1, 2, 3
    ON CONFLICT (station_id, metric, bucket) DO UPDATE
       SET value_avg = EXCLUDED.value_avg, value_min = EXCLUDED.value_min, value_max = EXCLUDED.value_max,
           value_sum = EXCLUDED.value_sum, n = EXCLUDED.n;

    INSERT INTO sensor_readings_1h AS r (station_id, metric, bucket, value_avg, value_min, value_max, value_sum, n)
    SELECT station_id, metric, date_trunc('hour', bucket, 'UTC'), sum(value_sum) / sum(n), min(value_min), max(value_max),
           sum(value_sum), sum(n)
      FROM sensor_readings_1m WHERE bucket >= h_lo AND bucket < h_hi
     GROUP BY 1, 2, 3
    ON CONFLICT (station_id, metric, bucket) DO UPDATE
       SET value_avg = EXCLUDED.value_avg, value_min = EXCLUDED.value_min, value_max = EXCLUDED.value_max,
           value_sum = EXCLUDED.value_sum, n = EXCLUDED.n;

    INSERT INTO sensor_readings_1d AS r (station_id, metric, bucket, value_avg, value_min, value_max, value_sum, n)
    SELECT station_id, metric, date_trunc('day', bucket, 'UTC'), sum(value_sum) / sum(n), min(value_min), max(value_max),
           sum(value_sum), sum(n)
      FROM sensor_readings_1h WHERE bucket >= d_lo AND bucket < d_hi
     GROUP BY 1, 2, 3
    ON CONFLICT (station_id, metric, bucket) DO UPDATE
       SET value_avg = EXCLUDED.value_avg, value_min = EXCLUDED.value_min, value_max = EXCLUDED.value_max,
           value_sum = EXCLUDED.value_sum, n = EXCLUDED.n;
END;
$$;

-- Retention for plain PostgreSQL (TimescaleDB uses add_retention_policy instead): raw rows go after
-- raw_days, minute rollups after minute_days; hourly and daily rollups are kept.
CREATE OR REPLACE FUNCTION ioc_apply_retention(raw_days integer, minute_days integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    removed bigint;
BEGIN
    DELETE FROM sensor_readings WHERE time < now() - make_interval(days => raw_days);
    GET DIAGNOSTICS removed = ROW_COUNT;
    DELETE FROM sensor_readings_1m WHERE bucket < now() - make_interval(days => minute_days);
    RETURN removed;
END;
$$;
