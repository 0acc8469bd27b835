-- The alert lifecycle: who has taken responsibility for an alert, how, and what was said about it.
-- open -> acknowledged -> resolved (also straight from open when the condition clears: auto-resolved).
-- Every change by a person is also a line of audit_log (ioc/store/alerts.py writes both in one transaction).

ALTER TABLE alerts ADD COLUMN IF NOT EXISTS acknowledged_via text;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS assignee text;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS resolved_by text;

CREATE TABLE IF NOT EXISTS alert_notes (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id uuid        NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    username text        NOT NULL,
    text     text        NOT NULL CHECK (length(text) BETWEEN 1 AND 2000)
);
CREATE INDEX IF NOT EXISTS alert_notes_alert_idx ON alert_notes (alert_id, at);
CREATE INDEX IF NOT EXISTS alerts_live_idx ON alerts (status, opened_at DESC) WHERE status <> 'resolved';
CREATE INDEX IF NOT EXISTS audit_log_target_idx ON audit_log (target, at);
