-- The thread between a CFA and a Mission Locale about a young person in rupture (domain.md §11): its
-- messages (the text, personal data, emptied once the person is erased) and how far each side has read,
-- under the person key they were recorded for (an entry reads those of its former keys too). Part of
-- the `ruptures` projection; no event carried them before, so the read model needs no rebuild.
CREATE TABLE rm_rupture_messages (
    position     bigint      PRIMARY KEY,
    entree       text        NOT NULL,
    recorded_at  timestamptz NOT NULL,
    cote         text        NOT NULL,
    organisation text        NOT NULL,
    principal    text        NOT NULL,
    texte        text
);
CREATE INDEX rm_rupture_messages_entree ON rm_rupture_messages (entree, position);

CREATE TABLE rm_rupture_lus (
    entree   text   NOT NULL,
    cote     text   NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (entree, cote)
);
