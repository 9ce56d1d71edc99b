-- The learner's identity and contacts, sealed under the person's data key (ChaCha20-Poly1305, the
-- person and the dossier as associated data): a page of dossiers shows who they are without folding
-- each dossier's events. NULL when the projection runs without the master key, or once the person is
-- erased (the log's events then read as erased). The `dossiers` projection's version 7 fills it.
ALTER TABLE rm_dossiers ADD COLUMN apprenant bytea;
