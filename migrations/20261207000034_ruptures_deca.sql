-- The Missions Locales' queue takes DECA contracts as dossiers of their apprentices (domain.md §13):
-- one row per contract (`deca-<numero>`), used only for a person no organisme sent a dossier of. The
-- `ruptures` projection (now version 3) rebuilds itself from the log.
ALTER TABLE rm_rupture_dossiers ADD COLUMN deca boolean NOT NULL DEFAULT false;
