-- What keeps a Mission Locale from reaching a young person, and their wish for an appointment
-- (domain.md §11), as the latest situation recorded on the entry says. No event carried them before:
-- the defaults are what the log holds, and the read model needs no rebuild.
ALTER TABLE rm_ruptures ADD COLUMN probleme_type text;
ALTER TABLE rm_ruptures ADD COLUMN probleme_detail text;
ALTER TABLE rm_ruptures ADD COLUMN souhaite_rdv boolean NOT NULL DEFAULT false;
