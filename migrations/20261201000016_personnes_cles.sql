-- The data keys of persons (crypto-shredding, `events/src/personal`): the personal values of a
-- person's events are sealed with their key, and erasing the person destroys it (`cle` NULL). Each key
-- is stored wrapped by a master key that never enters the database; `cle_maitre` is that master key's
-- fingerprint, so that it can be rotated. Erased rows stay, so that personal data arriving later for
-- the same person is never stored.
CREATE TABLE personnes_cles (
    personne   text        PRIMARY KEY,
    cle        bytea,
    cle_maitre text        NOT NULL,
    cree_le    timestamptz NOT NULL DEFAULT now(),
    efface_le  timestamptz,
    CHECK ((cle IS NULL) = (efface_le IS NOT NULL))
);
CREATE INDEX personnes_cles_maitre ON personnes_cles (cle_maitre) WHERE cle IS NOT NULL;

-- A refused item of a transmission keeps what was sent, names included: it is tied to its person, so
-- that erasing the person removes it too.
ALTER TABLE transmission_rejets ADD COLUMN personne text;
CREATE INDEX transmission_rejets_personne ON transmission_rejets (personne) WHERE personne IS NOT NULL;

-- The `voeux` projection: the candidates erased, each with the person key they were, so that their
-- vœux (whose identity now reads erased) stay matched to that person's dossiers.
CREATE TABLE rm_voeux_effaces (
    candidat text PRIMARY KEY,
    personne text NOT NULL
);
