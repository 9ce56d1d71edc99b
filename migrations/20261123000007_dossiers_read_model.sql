-- The read model of the `dossiers` projection: one row per dossier with the dimensions analysts group
-- and filter by, and its status timeline (parcours) computed by the named rule set; and the organismes
-- as the log knows them (the projection's own copy, so that a replay "as known at position P" sees the
-- organismes of that time, not today's lookup table).
CREATE TABLE rm_organismes (
    uai         text   NOT NULL,
    siret       text   NOT NULL,
    nom         text   NOT NULL,
    departement text   NOT NULL,
    region      text   NOT NULL,
    academie    text   NOT NULL,
    position    bigint NOT NULL,
    PRIMARY KEY (uai, siret)
);

CREATE TABLE rm_dossiers (
    dossier_id         text    PRIMARY KEY,
    annee_scolaire     text    NOT NULL,
    id_erp_apprenant   text    NOT NULL,
    uai_formateur      text    NOT NULL,
    siret_formateur    text    NOT NULL,
    uai_responsable    text    NOT NULL,
    siret_responsable  text    NOT NULL,
    cfd                text,
    rncp               text,
    niveau             smallint,
    annee_formation    smallint,
    date_de_naissance  date,
    code_commune_insee text,
    personne           text    NOT NULL,
    rqth               boolean NOT NULL,
    retire             boolean NOT NULL,
    rules_version      integer NOT NULL,
    -- [{"date": "YYYY-MM-DD", "statut": "APPRENTI"}, ...]; empty when the dossier has no status.
    parcours           jsonb   NOT NULL,
    position           bigint  NOT NULL
);
CREATE INDEX rm_dossiers_formateur ON rm_dossiers (uai_formateur, siret_formateur);
CREATE INDEX rm_dossiers_natural_key ON rm_dossiers (uai_formateur, annee_scolaire, id_erp_apprenant);
