-- Identity corrections (`IdentiteModifiee`): a dossier whose person key changed is the new person's,
-- and what the Missions Locales' advisors recorded under the former key follows it. The queue keeps,
-- for each dossier and each entry, the keys the dossiers had before; an entry reads the actions
-- recorded under its own key and under those.
ALTER TABLE rm_rupture_dossiers ADD COLUMN anciennes text[] NOT NULL DEFAULT '{}';
ALTER TABLE rm_ruptures ADD COLUMN anciennes text[] NOT NULL DEFAULT '{}';
CREATE INDEX rm_rupture_dossiers_anciennes ON rm_rupture_dossiers USING gin (anciennes);
