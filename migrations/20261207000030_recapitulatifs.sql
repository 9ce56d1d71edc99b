-- The recaps of the collaboration (domain.md §11) read what happened in a period: the actions and
-- messages of the rupture queue by knowledge time.
CREATE INDEX rm_rupture_actions_recorded ON rm_rupture_actions (recorded_at);
CREATE INDEX rm_rupture_messages_recorded ON rm_rupture_messages (recorded_at);
