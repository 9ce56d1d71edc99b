-- The indicators "à date" (domain.md §6), as cubes of the `dossiers` projection. Each cube counts the
-- dossiers per cell (année scolaire, status, and the cube's dimensions) on every day of the année
-- scolaire's window, stored as prefix sums by month:
--   cumul = true : n = the sum of the cell's changes before `jour`, a month's first day;
--   cumul = false: n = the cell's net change on `jour`.
-- The count on day D is the `cumul` row of D's month plus the changes from that month's first day to D:
-- a query reads one row per cell and at most a month of changes, whatever the number of dossiers.
-- Absent dimensions are '' (text) or 0 (numbers): unknown niveau or année de formation is 0, and the
-- tranche d'âge is 0 (−18), 1 (18–20), 2 (21–25) or 3 (26+).
-- The live projection updates `n` in place, batch after batch: no index covers it and pages keep room
-- (fillfactor) so that those updates stay HOT (no new index entries).
--
-- The cubes' meaning is new, so the projection (now version 2) is rebuilt from the log: its read model
-- is emptied here and refilled by the service.
TRUNCATE rm_dossiers, rm_organismes;
DELETE FROM checkpoints WHERE name LIKE 'projection:dossiers:%';

-- The territory a dossier is counted under (its organisme formateur's, as known when projected) and its
-- formation key (the CFD, else the RNCP code, else ''), so that a dossier's old counts can be taken
-- back exactly when it changes.
ALTER TABLE rm_dossiers
    ADD COLUMN departement text NOT NULL,
    ADD COLUMN region      text NOT NULL,
    ADD COLUMN academie    text NOT NULL,
    ADD COLUMN formation   text NOT NULL,
    ALTER COLUMN date_de_naissance SET NOT NULL;
CREATE INDEX rm_dossiers_annee ON rm_dossiers (annee_scolaire);
CREATE INDEX rm_dossiers_formation ON rm_dossiers (formation, annee_scolaire);

CREATE TABLE rm_indicateurs_departement (
    annee_scolaire  text     NOT NULL,
    jour            date     NOT NULL,
    cumul           boolean  NOT NULL,
    statut          text     NOT NULL,
    departement     text     NOT NULL,
    region          text     NOT NULL,
    academie        text     NOT NULL,
    n               integer  NOT NULL,
    PRIMARY KEY (annee_scolaire, jour, cumul, statut, departement, region, academie)
) WITH (fillfactor = 80);

CREATE TABLE rm_indicateurs_territoire (
    annee_scolaire  text     NOT NULL,
    jour            date     NOT NULL,
    cumul           boolean  NOT NULL,
    statut          text     NOT NULL,
    departement     text     NOT NULL,
    region          text     NOT NULL,
    academie        text     NOT NULL,
    niveau          smallint NOT NULL,
    annee_formation smallint NOT NULL,
    tranche         smallint NOT NULL,
    n               integer  NOT NULL,
    PRIMARY KEY (annee_scolaire, jour, cumul, statut, departement, region, academie, niveau,
                 annee_formation, tranche)
) WITH (fillfactor = 80);

CREATE TABLE rm_indicateurs_organisme (
    annee_scolaire  text     NOT NULL,
    jour            date     NOT NULL,
    cumul           boolean  NOT NULL,
    statut          text     NOT NULL,
    departement     text     NOT NULL,
    region          text     NOT NULL,
    academie        text     NOT NULL,
    uai             text     NOT NULL,
    siret           text     NOT NULL,
    niveau          smallint NOT NULL,
    n               integer  NOT NULL,
    PRIMARY KEY (annee_scolaire, jour, cumul, statut, departement, region, academie, uai, siret, niveau)
) WITH (fillfactor = 80);

CREATE TABLE rm_indicateurs_formation (
    annee_scolaire  text     NOT NULL,
    jour            date     NOT NULL,
    cumul           boolean  NOT NULL,
    statut          text     NOT NULL,
    departement     text     NOT NULL,
    region          text     NOT NULL,
    academie        text     NOT NULL,
    formation       text     NOT NULL,
    niveau          smallint NOT NULL,
    n               integer  NOT NULL,
    PRIMARY KEY (annee_scolaire, jour, cumul, statut, departement, region, academie, formation, niveau)
) WITH (fillfactor = 80);
