-- The indicators "as known at" a time (bitemporal): every change the `dossiers` projection makes to the
-- département cube, kept with the log position of the event that made it (`rm_indicateurs_historique`,
-- net per event, cell and day). The cube as known at position P is the sum of the rows up to P; to
-- answer fast, snapshots of that sum at some positions (`indicateurs_instantanes`, each a schema
-- `connu_<position>` holding the cube in its usual shape) are taken, and a question at P adds to the
-- nearest snapshot at or before P only the rows after it.
CREATE TABLE rm_indicateurs_historique (
    position       bigint   NOT NULL,
    annee_scolaire text     NOT NULL,
    jour           date     NOT NULL,
    statut         text     NOT NULL,
    departement    text     NOT NULL,
    region         text     NOT NULL,
    academie       text     NOT NULL,
    n              integer  NOT NULL
);
CREATE INDEX rm_indicateurs_historique_position ON rm_indicateurs_historique (position);

-- The history covers the whole log: the projection's read model is emptied here and refilled by the
-- service (or at once by `tba projections rebuild dossiers`).
TRUNCATE rm_dossiers, rm_organismes, rm_indicateurs_departement, rm_indicateurs_territoire,
         rm_indicateurs_organisme, rm_indicateurs_formation, rm_indicateurs_departement_pending,
         rm_indicateurs_territoire_pending, rm_indicateurs_organisme_pending, rm_indicateurs_formation_pending;
DELETE FROM checkpoints WHERE name LIKE 'projection:dossiers:%';

CREATE TABLE indicateurs_instantanes (
    position   bigint      NOT NULL,
    -- The `dossiers` projection version whose history it sums (another version's snapshots are ignored).
    version    integer     NOT NULL,
    schema     text        NOT NULL,
    cree_le    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version, position)
);

-- The snapshot at position 0: an empty cube, and every history row up to the position asked for.
CREATE SCHEMA connu_0;
CREATE TABLE connu_0.rm_indicateurs_departement (LIKE public.rm_indicateurs_departement INCLUDING ALL);
CREATE VIEW connu_0.rm_indicateurs_departement_pending AS
    SELECT annee_scolaire, jour, statut, departement, region, academie, n
    FROM public.rm_indicateurs_historique
    WHERE position > 0 AND position <= current_setting('tba.connu_jusqua')::bigint;
INSERT INTO indicateurs_instantanes (position, version, schema) VALUES (0, 2, 'connu_0');

-- "Which position was known at that time": the knowledge time never decreases along the log.
-- Many events share one knowledge time (a batch commits them together): the position is in the key,
-- so that the last of them is one index probe.
CREATE INDEX events_recorded_at ON events (recorded_at, position);
