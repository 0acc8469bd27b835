-- The embedded runtime's stream-processor state (alarm levels, rainfall windows, open rule alerts), saved every few
-- seconds and at shutdown so a restart continues where it stopped instead of reopening alerts. (The Faust workers
-- keep the same state in changelogged tables instead.)
CREATE TABLE IF NOT EXISTS processor_state (
    name       text PRIMARY KEY,
    state      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
