-- Plain PostgreSQL: the per-minute crossing counts as a table with the same name and columns as the TimescaleDB
-- continuous aggregate, kept current by the writer through ioc_refresh_line_counts(lo, hi).
CREATE TABLE IF NOT EXISTS line_counts_1m (
    camera_id text NOT NULL, line_id text NOT NULL, object_class text NOT NULL, direction text NOT NULL,
    bucket timestamptz NOT NULL, n bigint NOT NULL,
    PRIMARY KEY (camera_id, line_id, object_class, direction, bucket)
);
CREATE INDEX IF NOT EXISTS line_counts_1m_bucket_idx ON line_counts_1m (bucket DESC);

CREATE OR REPLACE FUNCTION ioc_refresh_line_counts(lo timestamptz, hi timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m_lo timestamptz := date_trunc('minute', lo, 'UTC');
    m_hi timestamptz := date_trunc('minute', hi, 'UTC') + interval '1 minute';
BEGIN
    INSERT INTO line_counts_1m (camera_id, line_id, object_class, direction, bucket, n)
    SELECT camera_id, line_id, object_class, direction, date_trunc('minute', crossed_at, 'UTC'), count(*)
      FROM line_crossings WHERE crossed_at >= m_lo AND crossed_at < m_hi
     GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (camera_id, line_id, object_class, direction, bucket) DO UPDATE SET n = EXCLUDED.n;
END;
$$;
