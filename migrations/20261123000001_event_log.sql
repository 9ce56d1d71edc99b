-- The append-only event log.
--
-- `position` is global, gapless and in commit order: every append takes the single `log_head` row
-- FOR UPDATE, so transactions that write events are serialised on it and commit in position order.
-- `data` and `metadata` are `json` (not `jsonb`) on purpose: json keeps the exact text that was
-- hashed, so the hash chain can be recomputed byte for byte from what is stored.
CREATE TABLE events (
    position       bigint      PRIMARY KEY CHECK (position > 0),
    stream_id      text        NOT NULL,
    version        bigint      NOT NULL CHECK (version > 0),
    category       text        NOT NULL,
    event_id       uuid        NOT NULL,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL,
    occurred_at    date        NOT NULL,
    data           json        NOT NULL,
    metadata       json        NOT NULL,
    recorded_at    timestamptz NOT NULL,
    hash           bytea       NOT NULL CHECK (length(hash) = 32),
    CONSTRAINT events_stream_version UNIQUE (stream_id, version),
    CONSTRAINT events_event_id UNIQUE (event_id)
);

CREATE INDEX events_category_position ON events (category, position);

-- The head of the log: the serialisation point of every append, and what an auditor notes down.
CREATE TABLE log_head (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    position    bigint      NOT NULL,
    hash        bytea       NOT NULL CHECK (length(hash) = 32),
    recorded_at timestamptz
);
INSERT INTO log_head (position, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

-- Consumers store how far they have read in the same transaction as their own writes.
CREATE TABLE checkpoints (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Immutability is PostgreSQL's job, whatever the client: no UPDATE, DELETE or TRUNCATE of events.
CREATE FUNCTION events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_no_update_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();
