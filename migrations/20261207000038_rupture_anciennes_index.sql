-- The dossiers known under other person keys before an identity correction are few: index only those,
-- as `rm_ft_dossiers_anciennes` does. An index of every dossier's (mostly empty) array took each new
-- dossier into the GIN index's pending list, which every lookup of a `ruptures` batch read whole: 80 ms
-- a batch during a first push of 60,000 dossiers.
DROP INDEX rm_rupture_dossiers_anciennes;
CREATE INDEX rm_rupture_dossiers_anciennes ON rm_rupture_dossiers USING gin (anciennes) WHERE anciennes <> '{}';
