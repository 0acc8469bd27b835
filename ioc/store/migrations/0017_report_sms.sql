-- Citizens' reports, part 2 (issue 17): the citizen is told of each status change of a report that has a phone
-- number by SMS. One row per status-changing step (report_events), written in the step's transaction, so a step
-- is never committed without its message nor the reverse; `ioc worker notify` (and the embedded runtime) sends
-- them through the SMS channels of reports.citizen_sms, with retries. The text is made at send time from the
-- report's code and the step's status, fitted to the channel's segment budget; the phone stays in `reports`.
CREATE TABLE IF NOT EXISTS report_sms (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    step_id             bigint      NOT NULL UNIQUE REFERENCES report_events (id) ON DELETE CASCADE,
    report_id           bigint      NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    status              text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts            int         NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    channel_id          text,
    provider_message_id text,
    segments            int,
    reason              text        CHECK (length(reason) <= 2000),
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz
);
CREATE INDEX IF NOT EXISTS report_sms_due_idx ON report_sms (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS report_sms_report_idx ON report_sms (report_id, id);
