-- When each Mission Locale started to use the service (domain.md §11), as the log recorded it, so that
-- any day reads the activation of its time. Part of the `ruptures` projection; no event carried it
-- before, so the read model needs no rebuild.
CREATE TABLE rm_ml_activations (
    position    bigint      PRIMARY KEY,
    ml_id       text        NOT NULL,
    recorded_at timestamptz NOT NULL,
    le          date        NOT NULL
);
CREATE INDEX rm_ml_activations_ml ON rm_ml_activations (ml_id, position);
