-- A candidate counts once in each group their vœux fall in, with what that group's vœux say (version 2
-- of the `voeux` projection): the sums the funnel reads without counting the vœux are kept per group of
-- each level (académie, région, national), no longer per candidate placed in one académie. The
-- projection's read model is emptied here and refilled from the log by the service (or at once by
-- `tba projections rebuild voeux`).
DROP TABLE rm_voeux_candidats, rm_voeux_academies, rm_voeux_contrats;

-- Each candidate of each campaign, in each group their vœux (not withdrawn) fall in: `niveau` is
-- 'academie', 'region' or 'national', `cle` the group's code ('' for national) and `region` its région
-- ('' for national); their vœux there, whether one matched a dossier, and the earliest matched
-- dossier's first day under contract and the end of that period.
CREATE TABLE rm_voeux_candidats (
    source   text    NOT NULL,
    rentree  integer NOT NULL,
    candidat text    NOT NULL,
    niveau   text    NOT NULL,
    cle      text    NOT NULL,
    region   text    NOT NULL,
    voeux    integer NOT NULL,
    inscrit  boolean NOT NULL,
    debut    date,
    fin      date,
    PRIMARY KEY (source, rentree, candidat, niveau, cle)
);
CREATE INDEX rm_voeux_candidats_candidat ON rm_voeux_candidats (candidat);

-- What does not depend on the day, summed per campaign and group (moved by each candidate's change).
CREATE TABLE rm_voeux_academies (
    source    text    NOT NULL,
    rentree   integer NOT NULL,
    niveau    text    NOT NULL,
    cle       text    NOT NULL,
    region    text    NOT NULL,
    voeux     bigint  NOT NULL,
    candidats bigint  NOT NULL,
    inscrits  bigint  NOT NULL,
    PRIMARY KEY (source, rentree, niveau, cle)
);

-- The candidates who went under contract, counted per campaign, group, first day under contract and
-- days under contract since (-1 while it lasts).
CREATE TABLE rm_voeux_contrats (
    source    text    NOT NULL,
    rentree   integer NOT NULL,
    niveau    text    NOT NULL,
    cle       text    NOT NULL,
    region    text    NOT NULL,
    debut     date    NOT NULL,
    duree     integer NOT NULL,
    candidats bigint  NOT NULL,
    PRIMARY KEY (source, rentree, niveau, cle, debut, duree)
);

TRUNCATE rm_voeux, rm_voeu_dossiers, rm_voeux_effaces, rm_voeux_quarantaine;
DELETE FROM checkpoints WHERE name LIKE 'projection:voeux:%';
