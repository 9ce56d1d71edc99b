-- A CFA's refusal to share an entry with its Mission Locale (domain.md §11), as the episode's latest
-- actions say. No event carried it before: the default is what the log holds, and the read model needs
-- no rebuild.
ALTER TABLE rm_ruptures ADD COLUMN partage_refuse boolean NOT NULL DEFAULT false;
