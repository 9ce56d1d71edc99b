-- A CFA's settings of its collaboration with the Missions Locales (domain.md §11), each as the log
-- recorded it, so that any day reads the settings of its time. Part of the `ruptures` projection; no
-- event carried them before, so the read model needs no rebuild.
CREATE TABLE rm_collaborations (
    position    bigint      PRIMARY KEY,
    uai         text        NOT NULL,
    siret       text        NOT NULL,
    recorded_at timestamptz NOT NULL,
    active      boolean     NOT NULL,
    envoi_auto  boolean     NOT NULL
);
CREATE INDEX rm_collaborations_organisme ON rm_collaborations (uai, siret, position);
