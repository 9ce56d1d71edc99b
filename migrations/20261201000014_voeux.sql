-- Affelnet and Parcoursup vœux (domain.md §8).

-- The import's own index of the vœux the log holds, written in the same transaction as their events:
-- what the last file of each académie and rentrée said of each vœu (its digest), so that a re-import
-- writes nothing and a vœu a newer file no longer holds is withdrawn.
CREATE TABLE voeux (
    voeu     text    PRIMARY KEY,
    source   text    NOT NULL,
    rentree  integer NOT NULL,
    academie text    NOT NULL,
    candidat text    NOT NULL,
    digest   text    NOT NULL,
    retire   boolean NOT NULL,
    position bigint  NOT NULL
);
CREATE INDEX voeux_campagne ON voeux (source, rentree, academie) WHERE NOT retire;

-- Every import of a vœux file: who, which file, what it changed; `termine` null while it runs (or if
-- it stopped before the end: importing the file again completes it).
CREATE TABLE voeux_imports (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source    text        NOT NULL,
    fichier   text        NOT NULL,            -- SHA-256 (hex) of the file
    nom       text        NOT NULL,            -- the file's name, as given
    principal text        NOT NULL,
    debut     timestamptz NOT NULL,
    termine   timestamptz,
    lignes    bigint      NOT NULL DEFAULT 0,
    formules  bigint      NOT NULL DEFAULT 0,  -- new vœux
    modifies  bigint      NOT NULL DEFAULT 0,
    inchanges bigint      NOT NULL DEFAULT 0,
    retires   bigint      NOT NULL DEFAULT 0,
    campagnes jsonb       NOT NULL DEFAULT '[]' -- [{"academie": "10", "rentree": 2026}, ...]
);

-- The read model of the `voeux` projection: every vœu with the candidate's identity and contacts (for
-- the lists of "non concrétisés"), and what matching found: the dossier of the same person at the
-- organisme targeted for the rentrée's school year, its first day under contract and the days it was
-- under contract since (`contrat`, APPRENTI or FIN_DE_FORMATION).
CREATE TABLE rm_voeux (
    voeu                  text    PRIMARY KEY,
    candidat              text    NOT NULL,
    source                text    NOT NULL,
    rentree               integer NOT NULL,
    academie              text    NOT NULL,
    region                text    NOT NULL,
    uai_formateur         text    NOT NULL,
    uai_responsable       text,
    formation             text    NOT NULL,
    cfd                   text,
    rncp                  text,
    libelle_formation     text,
    rang                  integer,
    ine                   text,
    personne              text,                -- the person key (none without a birth date)
    nom                   text    NOT NULL,
    prenoms               text    NOT NULL,
    date_de_naissance     date,
    email                 text,
    telephone             text,
    email_responsable     text,
    telephone_responsable text,
    code_postal           text,
    retire                boolean NOT NULL,
    dossier_id            text,                -- the matched dossier (none: not inscrit)
    debut                 date,                -- its first day under contract
    contrat               datemultirange,      -- its days under contract
    position              bigint  NOT NULL
);
CREATE INDEX rm_voeux_campagne ON rm_voeux (source, rentree, academie, candidat) WHERE NOT retire;
CREATE INDEX rm_voeux_ine ON rm_voeux (ine) WHERE ine IS NOT NULL;
CREATE INDEX rm_voeux_personne ON rm_voeux (personne) WHERE personne IS NOT NULL;
CREATE INDEX rm_voeux_dossier ON rm_voeux (dossier_id) WHERE dossier_id IS NOT NULL;

-- What matching needs of every dossier.
CREATE TABLE rm_voeu_dossiers (
    dossier_id      text    PRIMARY KEY,
    annee_scolaire  text    NOT NULL,
    uai_formateur   text    NOT NULL,
    uai_responsable text    NOT NULL,
    ine             text,
    personne        text    NOT NULL,
    retire          boolean NOT NULL,
    debut           date,
    contrat         datemultirange,
    position        bigint  NOT NULL
);
CREATE INDEX rm_voeu_dossiers_ine ON rm_voeu_dossiers (ine) WHERE ine IS NOT NULL;
CREATE INDEX rm_voeu_dossiers_personne ON rm_voeu_dossiers (personne);
