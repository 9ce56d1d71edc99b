-- Every read of nominative data (a dossier, the log's events), recorded before the data is returned:
-- who (the key, its role and organisation), what (the action and its subject), when. Readable by
-- auditors and administrators; append-only like the log.
CREATE TABLE access_log (
    id           bigserial   PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    key_id       uuid        NOT NULL,
    role         text        NOT NULL,
    organisation text        NOT NULL,
    action       text        NOT NULL,
    subject      text        NOT NULL,
    details      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX access_log_key ON access_log (key_id, id);

CREATE FUNCTION access_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only';
END $$;
CREATE TRIGGER access_log_no_update BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_is_append_only();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_is_append_only();

-- An organisme's key sees the aggregates of the organismes formateurs it is responsable of.
CREATE INDEX rm_dossiers_responsable ON rm_dossiers (uai_responsable, siret_responsable);
