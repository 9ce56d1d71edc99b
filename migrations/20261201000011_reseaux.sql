-- The réseaux of organismes (têtes de réseau: a chain of CFAs, a chamber's network): which organismes each
-- one holds, so that a TETE_DE_RESEAU key (`--scope RESEAU:<id>`) sees the aggregates of its organismes
-- and the dossiers they are responsable of (domain.md §9). Loaded by `tba reseaux import`; an import
-- replaces the members of the réseaux it names.
CREATE TABLE reseaux (
    id         text        PRIMARY KEY,
    nom        text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reseau_organismes (
    reseau text NOT NULL REFERENCES reseaux (id) ON DELETE CASCADE,
    uai    text NOT NULL,
    siret  text NOT NULL,
    PRIMARY KEY (reseau, uai, siret)
);
