-- The name of each formation as the dossiers carry it (`libelle_court_formation`), so that the indicators
-- by formation name their groups: per dossier, and counted per formation and name (the name most of a
-- formation's dossiers carry is its name). Filled from the log by version 4 of the `dossiers`
-- projection: its read model is emptied here and refilled by the service (or at once by
-- `tba projections rebuild dossiers`).
CREATE TABLE rm_dossiers_libelles (
    dossier_id text PRIMARY KEY,
    formation  text NOT NULL,
    libelle    text NOT NULL
);

CREATE TABLE rm_formations_libelles (
    formation text   NOT NULL,
    libelle   text   NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (formation, libelle)
);

-- Empty the `dossiers` projection's read model for a rebuild from the log, its snapshots of "as
-- known at" with it; what every version change of that projection runs from now on.
CREATE FUNCTION vider_projection_dossiers() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    snapshot record;
BEGIN
    TRUNCATE rm_dossiers, rm_organismes, rm_indicateurs_departement, rm_indicateurs_territoire,
             rm_indicateurs_organisme, rm_indicateurs_formation, rm_indicateurs_departement_pending,
             rm_indicateurs_territoire_pending, rm_indicateurs_organisme_pending,
             rm_indicateurs_formation_pending, rm_indicateurs_historique, rm_dossiers_versions,
             rm_organismes_versions, rm_dossiers_quarantaine, rm_dossiers_libelles, rm_formations_libelles;
    DELETE FROM checkpoints WHERE name LIKE 'projection:dossiers:%';
    FOR snapshot IN DELETE FROM indicateurs_instantanes WHERE position > 0 RETURNING schema LOOP
        EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', snapshot.schema);
    END LOOP;
END
$$;

SELECT vider_projection_dossiers();
