-- Late data: plain PostgreSQL's rollups are tables the writer updates with every batch, however old its rows,
-- so nothing is ever behind. The backlog exists, always empty, so the maintenance step is the same everywhere.

CREATE TABLE IF NOT EXISTS rollup_backlog (
    view_name    text        NOT NULL,
    bucket_start timestamptz NOT NULL,
    bucket_end   timestamptz NOT NULL,
    noted_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (view_name, bucket_start)
);
