-- An organisation's own administrator (domain.md §14): an account that invites, resets and disables
-- the accounts of its own organisation (same role, organisme and scope), and no other.
ALTER TABLE comptes ADD COLUMN gestionnaire boolean NOT NULL DEFAULT false;
