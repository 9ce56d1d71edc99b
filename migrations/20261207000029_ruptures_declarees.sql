-- The ruptures a CFA declared itself (`declarerRupture`), which its own list keeps after the person
-- left (domain.md §11). The `ruptures` projection's version 2 fills them from the log.
ALTER TABLE rm_rupture_dossiers ADD COLUMN declarees date[] NOT NULL DEFAULT '{}';
ALTER TABLE rm_ruptures ADD COLUMN declaree boolean NOT NULL DEFAULT false;
