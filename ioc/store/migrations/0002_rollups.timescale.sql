-- TimescaleDB: sensor_readings becomes a hypertable with compression and retention, and the rollups are
-- hierarchical continuous aggregates (1 min -> 1 h -> 1 day) with the same names and columns as the plain tables.
-- Real-time aggregation is on (materialized_only = false), so the newest minutes show before a policy runs.
-- n stays bigint at every level, as in the plain tables: sum(bigint) is numeric, hence the casts.

SELECT create_hypertable('sensor_readings', 'time', chunk_time_interval => INTERVAL '1 day',
                         if_not_exists => TRUE, migrate_data => TRUE);

ALTER TABLE sensor_readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'station_id, metric',
    timescaledb.compress_orderby = 'time DESC'
);
SELECT add_compression_policy('sensor_readings', INTERVAL '7 days', if_not_exists => TRUE);
SELECT add_retention_policy('sensor_readings', INTERVAL '400 days', if_not_exists => TRUE);

CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_readings_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT station_id, metric, time_bucket(INTERVAL '1 minute', time) AS bucket,
       avg(value) AS value_avg, min(value) AS value_min, max(value) AS value_max,
       sum(value) AS value_sum, count(*) AS n
  FROM sensor_readings
 GROUP BY station_id, metric, time_bucket(INTERVAL '1 minute', time)
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_readings_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT station_id, metric, time_bucket(INTERVAL '1 hour', bucket) AS bucket,
       sum(value_sum) / sum(n) AS value_avg, min(value_min) AS value_min, max(value_max) AS value_max,
       sum(value_sum) AS value_sum, sum(n)::bigint AS n
  FROM sensor_readings_1m
 GROUP BY station_id, metric, time_bucket(INTERVAL '1 hour', bucket)
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_readings_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT station_id, metric, time_bucket(INTERVAL '1 day', bucket) AS bucket,
       sum(value_sum) / sum(n) AS value_avg, min(value_min) AS value_min, max(value_max) AS value_max,
       sum(value_sum) AS value_sum, sum(n)::bigint AS n
  FROM sensor_readings_1h
 GROUP BY station_id, metric, time_bucket(INTERVAL '1 day', bucket)
WITH NO DATA;

SELECT add_continuous_aggregate_policy('sensor_readings_1m', start_offset => INTERVAL '2 hours',
       end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE);
SELECT add_continuous_aggregate_policy('sensor_readings_1h', start_offset => INTERVAL '3 days',
       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE);
SELECT add_continuous_aggregate_policy('sensor_readings_1d', start_offset => INTERVAL '40 days',
       end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);
SELECT add_retention_policy('sensor_readings_1m', INTERVAL '90 days', if_not_exists => TRUE);

-- The writer calls this after each batch on both flavours; with TimescaleDB the policies do the work.
CREATE OR REPLACE FUNCTION ioc_refresh_readings_rollups(lo timestamptz, hi timestamptz) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN END $$;

-- Retention is done by the policies above; kept so callers need not know the flavour.
CREATE OR REPLACE FUNCTION ioc_apply_retention(raw_days integer, minute_days integer) RETURNS bigint
LANGUAGE sql AS $$ SELECT 0::bigint $$;
