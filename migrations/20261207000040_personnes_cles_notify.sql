-- Every process that keeps persons' data keys in memory listens on this channel: destroying a key
-- (an erasure) tells them the person, and they forget it. Re-wrapping under another master key changes
-- no data key and is not told.
CREATE FUNCTION personnes_cles_detruites() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('tba_personnes_cles', '');
    ELSE
        PERFORM pg_notify('tba_personnes_cles', OLD.personne);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER personnes_cles_detruites
    AFTER UPDATE OF cle ON personnes_cles
    FOR EACH ROW WHEN (OLD.cle IS NOT NULL AND NEW.cle IS NULL) EXECUTE FUNCTION personnes_cles_detruites();
CREATE TRIGGER personnes_cles_supprimees AFTER DELETE ON personnes_cles
    FOR EACH ROW EXECUTE FUNCTION personnes_cles_detruites();
CREATE TRIGGER personnes_cles_videes AFTER TRUNCATE ON personnes_cles
    FOR EACH STATEMENT EXECUTE FUNCTION personnes_cles_detruites();
