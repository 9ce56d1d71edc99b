-- Every process keeps the keys it has checked in memory while it listens on this channel: a change to
-- what a key may do (revocation, role, organisme, scope, secret) or its deletion tells every listener
-- to forget what it holds, so that a revoked key is refused at once everywhere. A key's last use (kept
-- to the hour) and its label change nothing a check reads, and are not told.
CREATE FUNCTION api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tba_api_keys', TG_OP);
    RETURN NULL;
END $$;

CREATE TRIGGER api_keys_changed
    AFTER UPDATE OF revoked_at, role, organisme_uai, organisme_siret, scope_kind, scope_value, secret_sha256
    OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_changed();
CREATE TRIGGER api_keys_truncated AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_changed();
