-- Where each dossier's figures come from (domain.md §13): `ERP` (an ERP's API or typed events), `FICHIER`
-- (a file of dossiers), `DECA` (the national contracts base, for organismes that never transmitted).
-- A DECA contract counts as one dossier per année scolaire it spans (`deca-<numero>:<année>`), only while
-- its organisme formateur has transmitted nothing: the first dossier an ERP or a file sends for it
-- (`rm_organismes_transmissions`, from that event's position on) takes its DECA dossiers out.
ALTER TABLE rm_dossiers ADD COLUMN source text NOT NULL DEFAULT 'ERP';
ALTER TABLE rm_dossiers_versions ADD COLUMN source text NOT NULL DEFAULT 'ERP';
CREATE INDEX rm_dossiers_source ON rm_dossiers (source) WHERE source = 'DECA';

CREATE TABLE rm_organismes_transmissions (
    uai      text   NOT NULL,
    siret    text   NOT NULL,
    -- The first event of a dossier this organisme is the formateur of.
    position bigint NOT NULL,
    PRIMARY KEY (uai, siret)
);

-- The indicators split by source, per territory (the other groupings with a source are counted from
-- the dossiers).
CREATE TABLE rm_indicateurs_source (
    annee_scolaire  text     NOT NULL,
    jour            date     NOT NULL,
    cumul           boolean  NOT NULL,
    statut          text     NOT NULL,
    departement     text     NOT NULL,
    region          text     NOT NULL,
    academie        text     NOT NULL,
    source          text     NOT NULL,
    n               integer  NOT NULL,
    PRIMARY KEY (annee_scolaire, jour, cumul, statut, departement, region, academie, source)
) WITH (fillfactor = 80);
CREATE TABLE rm_indicateurs_source_pending (LIKE rm_indicateurs_source);
ALTER TABLE rm_indicateurs_source_pending DROP COLUMN cumul;

CREATE OR REPLACE FUNCTION vider_projection_dossiers() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    snapshot record;
BEGIN
    TRUNCATE rm_dossiers, rm_organismes, rm_indicateurs_departement, rm_indicateurs_territoire,
             rm_indicateurs_organisme, rm_indicateurs_formation, rm_indicateurs_source,
             rm_indicateurs_departement_pending, rm_indicateurs_territoire_pending,
             rm_indicateurs_organisme_pending, rm_indicateurs_formation_pending,
             rm_indicateurs_source_pending, rm_indicateurs_historique, rm_dossiers_versions,
             rm_organismes_versions, rm_dossiers_quarantaine, rm_dossiers_libelles, rm_formations_libelles,
             rm_organismes_transmissions;
    DELETE FROM checkpoints WHERE name LIKE 'projection:dossiers:%';
    FOR snapshot IN DELETE FROM indicateurs_instantanes WHERE position > 0 RETURNING schema LOOP
        EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', snapshot.schema);
    END LOOP;
END
$$;

SELECT vider_projection_dossiers();
