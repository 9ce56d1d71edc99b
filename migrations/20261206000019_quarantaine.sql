-- The events each projection set aside because its read model could not hold them (see
-- `projections::admission`): part of the read model, rebuilt with it, so that a rebuild's checksum
-- covers what it left out.
CREATE TABLE rm_dossiers_quarantaine (
    position   bigint PRIMARY KEY,
    stream_id  text NOT NULL,
    event_type text NOT NULL,
    erreur     text NOT NULL
);
CREATE TABLE rm_ruptures_quarantaine (LIKE rm_dossiers_quarantaine INCLUDING ALL);
CREATE TABLE rm_voeux_quarantaine (LIKE rm_dossiers_quarantaine INCLUDING ALL);
