-- The indicators "as known at" for every grouping and filter: what each dossier counted for between two
-- log positions (`rm_dossiers_versions`: its counts from the event at `depuis` until the one at `jusqua`,
-- NULL while current), and where each organisme formateur was from each of its events on
-- (`rm_organismes_versions`). The dossiers as known at position P are the versions with
-- depuis <= P < jusqua, placed where their organisme was at P: exactly what a replay up to P folds.
CREATE TABLE rm_dossiers_versions (
    dossier_id        text     NOT NULL,
    depuis            bigint   NOT NULL,
    jusqua            bigint,
    annee_scolaire    text     NOT NULL,
    date_de_naissance date     NOT NULL,
    parcours          jsonb    NOT NULL,
    uai_formateur     text     NOT NULL,
    siret_formateur   text     NOT NULL,
    formation         text     NOT NULL,
    niveau            smallint,
    annee_formation   smallint
);
CREATE INDEX rm_dossiers_versions_dossier ON rm_dossiers_versions (dossier_id, depuis);
-- "Which dossiers were counted otherwise after P": the versions started after it.
CREATE INDEX rm_dossiers_versions_depuis ON rm_dossiers_versions (depuis);
-- "What they counted at P": the versions replaced after it.
CREATE INDEX rm_dossiers_versions_jusqua ON rm_dossiers_versions (jusqua);

CREATE TABLE rm_organismes_versions (
    uai         text   NOT NULL,
    siret       text   NOT NULL,
    depuis      bigint NOT NULL,
    departement text   NOT NULL,
    region      text   NOT NULL,
    academie    text   NOT NULL,
    PRIMARY KEY (uai, siret, depuis)
);
CREATE INDEX rm_organismes_versions_depuis ON rm_organismes_versions (depuis);

-- The versions cover the whole log: the projection's read model is emptied here and refilled by the
-- service (or at once by `tba projections rebuild dossiers`), with its history and without the
-- snapshots that summed it.
TRUNCATE rm_dossiers, rm_organismes, rm_indicateurs_departement, rm_indicateurs_territoire,
         rm_indicateurs_organisme, rm_indicateurs_formation, rm_indicateurs_departement_pending,
         rm_indicateurs_territoire_pending, rm_indicateurs_organisme_pending, rm_indicateurs_formation_pending,
         rm_indicateurs_historique;
DELETE FROM checkpoints WHERE name LIKE 'projection:dossiers:%';
DO $$
DECLARE
    snapshot record;
BEGIN
    FOR snapshot IN DELETE FROM indicateurs_instantanes WHERE position > 0 RETURNING schema LOOP
        EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', snapshot.schema);
    END LOOP;
END
$$;
