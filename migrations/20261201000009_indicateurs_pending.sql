-- Changes to the indicator cubes waiting to be folded in. Moving a cube means writing a dossier's daily
-- changes and the month sums of every later month of its année scolaire (~100-200 upserts per new
-- dossier over the four cubes): too much for a batch that must be visible within milliseconds. So a
-- batch only appends its net daily changes here (plain inserts, no index), queries add them to the
-- cube's answer, and the projection folds them into the cubes (daily changes and sums) beside its
-- batches, about once a second, in a transaction that deletes what it folds: queries see every change
-- once, pending or folded, never both.
CREATE TABLE rm_indicateurs_departement_pending (LIKE rm_indicateurs_departement);
CREATE TABLE rm_indicateurs_territoire_pending (LIKE rm_indicateurs_territoire);
CREATE TABLE rm_indicateurs_organisme_pending (LIKE rm_indicateurs_organisme);
CREATE TABLE rm_indicateurs_formation_pending (LIKE rm_indicateurs_formation);
ALTER TABLE rm_indicateurs_departement_pending DROP COLUMN cumul;
ALTER TABLE rm_indicateurs_territoire_pending DROP COLUMN cumul;
ALTER TABLE rm_indicateurs_organisme_pending DROP COLUMN cumul;
ALTER TABLE rm_indicateurs_formation_pending DROP COLUMN cumul;
