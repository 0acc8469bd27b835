-- TimescaleDB: crossings and occupancy grow with every camera; make them hypertables with compression and retention.
SELECT create_hypertable('line_crossings', 'crossed_at', chunk_time_interval => INTERVAL '1 day',
                         if_not_exists => TRUE, migrate_data => TRUE);
ALTER TABLE line_crossings SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'camera_id, line_id', timescaledb.compress_orderby = 'crossed_at DESC');
SELECT add_compression_policy('line_crossings', INTERVAL '7 days', if_not_exists => TRUE);
SELECT add_retention_policy('line_crossings', INTERVAL '400 days', if_not_exists => TRUE);

SELECT create_hypertable('zone_occupancy', 'at', chunk_time_interval => INTERVAL '1 day',
                         if_not_exists => TRUE, migrate_data => TRUE);
ALTER TABLE zone_occupancy SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'camera_id, zone_id', timescaledb.compress_orderby = 'at DESC');
SELECT add_compression_policy('zone_occupancy', INTERVAL '7 days', if_not_exists => TRUE);
SELECT add_retention_policy('zone_occupancy', INTERVAL '400 days', if_not_exists => TRUE);

-- Crossings per line, class and direction per minute, for the wall's traffic tiles and history.
CREATE MATERIALIZED VIEW IF NOT EXISTS line_counts_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT camera_id, line_id, object_class, direction, time_bucket(INTERVAL '1 minute', crossed_at) AS bucket,
       count(*)::bigint AS n
  FROM line_crossings
 GROUP BY camera_id, line_id, object_class, direction, time_bucket(INTERVAL '1 minute', crossed_at)
WITH NO DATA;
SELECT add_continuous_aggregate_policy('line_counts_1m', start_offset => INTERVAL '2 hours',
       end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE);

CREATE OR REPLACE FUNCTION ioc_refresh_line_counts(lo timestamptz, hi timestamptz) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN END $$;
