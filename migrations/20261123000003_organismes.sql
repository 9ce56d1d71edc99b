-- The organismes referential as a lookup table, written in the same transaction as the organisme
-- events it mirrors (stream `organisme-<uai>-<siret>`), so the two never disagree.
CREATE TABLE organismes (
    uai                text        NOT NULL,
    siret              text        NOT NULL,
    nom                text        NOT NULL,
    code_commune_insee text,
    code_postal        text,
    departement        text        NOT NULL,
    region             text        NOT NULL,
    academie           text        NOT NULL,
    nature             text        NOT NULL,
    updated_position   bigint      NOT NULL,
    PRIMARY KEY (uai, siret)
);
CREATE INDEX organismes_siret ON organismes (siret);
