-- The dossiers known under other person keys before an identity correction are few: each batch of the
-- `france_travail` projection looks them up by those keys, through this index of the few (instead of
-- reading every dossier), as `ruptures` does through its own.
CREATE INDEX rm_ft_dossiers_anciennes ON rm_ft_dossiers USING gin (anciennes) WHERE anciennes <> '{}';
