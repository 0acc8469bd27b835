-- Public signals: items of news and official feeds (RSS, Atom), one row per feed and guid, with the places and
-- topics each matched. units and topics repeat what matches holds, as arrays, for the operators' page: an
-- operator sees the items of the communes in scope (units && their codes).
CREATE TABLE IF NOT EXISTS feed_items (
    event_id     uuid        PRIMARY KEY,
    feed_id      text        NOT NULL,
    guid         text        NOT NULL,
    url          text        NOT NULL,
    title        text        NOT NULL,
    summary      text        NOT NULL DEFAULT '',
    published_at timestamptz,
    fetched_at   timestamptz NOT NULL,
    matches      jsonb       NOT NULL DEFAULT '[]',
    units        text[]      NOT NULL DEFAULT '{}',
    topics       text[]      NOT NULL DEFAULT '{}',
    simulated    boolean     NOT NULL DEFAULT false,
    UNIQUE (feed_id, guid)
);
CREATE INDEX IF NOT EXISTS feed_items_fetched_idx ON feed_items (fetched_at DESC);
CREATE INDEX IF NOT EXISTS feed_items_units_idx ON feed_items USING gin (units);
