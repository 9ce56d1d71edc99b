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
-- organisme targeted for the rentrée's school year, its first day under contract (`debut`) and the first
-- day after it no longer under contract (`fin`, none while it lasts; FIN_DE_FORMATION continues it).
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
    fin                   date,                -- its first day no longer under contract after
    position              bigint  NOT NULL
);
CREATE INDEX rm_voeux_campagne ON rm_voeux (source, rentree, academie, candidat) WHERE NOT retire;
CREATE INDEX rm_voeux_ine ON rm_voeux (ine) WHERE ine IS NOT NULL;
CREATE INDEX rm_voeux_personne ON rm_voeux (personne) WHERE personne IS NOT NULL;
CREATE INDEX rm_voeux_dossier ON rm_voeux (dossier_id) WHERE dossier_id IS NOT NULL;
CREATE INDEX rm_voeux_candidat ON rm_voeux (candidat);

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
    fin             date,
    position        bigint  NOT NULL
);
CREATE INDEX rm_voeu_dossiers_ine ON rm_voeu_dossiers (ine) WHERE ine IS NOT NULL;
CREATE INDEX rm_voeu_dossiers_personne ON rm_voeu_dossiers (personne);

-- Each candidate of each campaign, for the funnels by académie and région: the académie of their file
-- (of their latest vœu if files disagree), their vœux not withdrawn, whether one matched a dossier, and
-- the earliest matched dossier's first day under contract and the end of that period.
CREATE TABLE rm_voeux_candidats (
    source   text    NOT NULL,
    rentree  integer NOT NULL,
    candidat text    NOT NULL,
    academie text    NOT NULL,
    region   text    NOT NULL,
    voeux    integer NOT NULL,
    inscrit  boolean NOT NULL,
    debut    date,
    fin      date,
    PRIMARY KEY (source, rentree, candidat)
);
CREATE INDEX rm_voeux_candidats_candidat ON rm_voeux_candidats (candidat);

-- What does not depend on the day, summed per campaign and académie (moved by each candidate's change).
CREATE TABLE rm_voeux_academies (
    source    text    NOT NULL,
    rentree   integer NOT NULL,
    academie  text    NOT NULL,
    region    text    NOT NULL,
    voeux     bigint  NOT NULL,
    candidats bigint  NOT NULL,
    inscrits  bigint  NOT NULL,
    PRIMARY KEY (source, rentree, academie)
);

-- The candidates who went under contract, counted per campaign, académie, first day under contract and
-- days under contract since (none while it lasts): what depends on the day and on the number of days
-- asked, in a few thousand rows whatever the number of candidates.
CREATE TABLE rm_voeux_contrats (
    source    text    NOT NULL,
    rentree   integer NOT NULL,
    academie  text    NOT NULL,
    region    text    NOT NULL,
    debut     date    NOT NULL,
    duree     integer NOT NULL,                -- -1: still under contract
    candidats bigint  NOT NULL,
    PRIMARY KEY (source, rentree, academie, debut, duree)
);
