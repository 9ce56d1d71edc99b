-- The transmission journal: what each organisme sent, per push, with the items that were refused and
-- why, so a CFA can see its own errors. Refused raw items (without NIR) are personal data kept 15 days
-- at most: `tba serve` deletes older ones, and reads never show them.
CREATE TABLE transmissions (
    id              uuid        PRIMARY KEY,
    received_at     timestamptz NOT NULL DEFAULT now(),
    organisme_uai   text,
    organisme_siret text,
    key_id          uuid        NOT NULL,
    channel         text        NOT NULL,
    received        integer     NOT NULL,
    accepted        integer     NOT NULL,
    rejected        integer     NOT NULL,
    events          integer     NOT NULL
);
CREATE INDEX transmissions_organisme ON transmissions (organisme_uai, organisme_siret, received_at);

CREATE TABLE transmission_rejets (
    transmission_id  uuid        NOT NULL REFERENCES transmissions (id) ON DELETE CASCADE,
    item_index       integer     NOT NULL,
    received_at      timestamptz NOT NULL,
    id_erp_apprenant text,
    errors           jsonb       NOT NULL,
    item             jsonb,
    PRIMARY KEY (transmission_id, item_index)
);
CREATE INDEX transmission_rejets_received_at ON transmission_rejets (received_at);
