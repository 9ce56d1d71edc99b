-- A cache for the nightly re-sends: per dossier, the digest of the last v3 snapshot received and the
-- stream version at which deciding that snapshot again was verified to record nothing. An unchanged
-- re-send whose dossier is still at that version needs no reading of its events. Not the truth (the
-- log is): losing or emptying this table costs only time.
CREATE TABLE dossier_snapshot_digests (
    stream_id text   PRIMARY KEY,
    version   bigint NOT NULL,
    digest    bytea  NOT NULL
);
