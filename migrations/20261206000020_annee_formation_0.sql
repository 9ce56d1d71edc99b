-- An année de formation 0 is a year of a cursus, no longer the mark of "not sent": the cubes now keep
-- -1 for a dossier whose ERP did not send it, and the read models 0 where it was sent (version 3 of the
-- `dossiers` projection). Its read model is emptied here and refilled from the log by the service (or
-- at once by `tba projections rebuild dossiers`), without the snapshots that summed it.
TRUNCATE rm_dossiers, rm_organismes, rm_indicateurs_departement, rm_indicateurs_territoire,
         rm_indicateurs_organisme, rm_indicateurs_formation, rm_indicateurs_departement_pending,
         rm_indicateurs_territoire_pending, rm_indicateurs_organisme_pending, rm_indicateurs_formation_pending,
         rm_indicateurs_historique, rm_dossiers_versions, rm_organismes_versions, rm_dossiers_quarantaine;
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
