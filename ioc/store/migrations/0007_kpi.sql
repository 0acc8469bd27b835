-- KPI values: one row per indicator, administrative unit, period and source; re-imports update the value.
CREATE TABLE IF NOT EXISTS kpi_values (
    kpi_id       text             NOT NULL,
    unit_code    text             NOT NULL,
    period_kind  text             NOT NULL CHECK (period_kind IN ('month', 'quarter', 'year')),
    period_start timestamptz      NOT NULL,
    value        double precision NOT NULL,
    target       double precision,
    source       text             NOT NULL,
    event_id     uuid             NOT NULL,
    updated_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (kpi_id, unit_code, period_kind, period_start)
);
CREATE INDEX IF NOT EXISTS kpi_values_unit_idx ON kpi_values (unit_code, period_start DESC);
