-- The read model of the `france_travail` projection (domain.md §12): the adults enrolled at a CFA without
-- a contract that France Travail's advisors follow, by région of residence and sector. Folded from the
-- log: the formations referential (sectors from ROME codes), the dossiers' parcours, and the advisors'
-- situations.

-- The formations referential as the projection knows it, from `FormationEnregistree`.
CREATE TABLE rm_ft_formations (
    cfd        text     PRIMARY KEY,
    rncp       text,
    libelle    text     NOT NULL,
    niveau     smallint,
    codes_rome text[]   NOT NULL,
    secteurs   text[]   NOT NULL,
    position   bigint   NOT NULL
);
CREATE INDEX rm_ft_formations_rncp ON rm_ft_formations (rncp);

-- What the queue needs of every dossier.
CREATE TABLE rm_ft_dossiers (
    dossier_id         text    PRIMARY KEY,
    personne           text    NOT NULL,
    parcours           jsonb   NOT NULL,
    date_de_naissance  date    NOT NULL,
    code_commune_insee text,
    code_postal        text,
    cfd                text,
    rncp               text,
    retire             boolean NOT NULL,
    uai_formateur      text    NOT NULL,
    siret_formateur    text    NOT NULL,
    anciennes          text[]  NOT NULL DEFAULT '{}',
    position           bigint  NOT NULL
);
CREATE INDEX rm_ft_dossiers_personne ON rm_ft_dossiers (personne);

-- Each person's enrolments without a contract (from the first INSCRIT day to the first day APPRENTI,
-- ABANDON or FIN_DE_FORMATION); whether the person is 18 and the entry in the queue is decided when
-- queried, from the dates kept here. Inactive: no longer in the log's story (kept for the live
-- subscription to see it go).
CREATE TABLE rm_ft_entrees (
    entree            text    NOT NULL,
    debut             date    NOT NULL,
    active            boolean NOT NULL,
    fin               date,
    fin_motif         text,
    dossier_id        text    NOT NULL,
    date_de_naissance date    NOT NULL,
    region            text,
    departement       text,
    code_postal       text,
    cfd               text,
    rncp              text,
    secteurs          text[]  NOT NULL,
    uai_formateur     text    NOT NULL,
    siret_formateur   text    NOT NULL,
    anciennes         text[]  NOT NULL DEFAULT '{}',
    position          bigint  NOT NULL,
    PRIMARY KEY (entree, debut)
);
CREATE INDEX rm_ft_entrees_region ON rm_ft_entrees (region, debut) WHERE active;
CREATE INDEX rm_ft_entrees_position ON rm_ft_entrees (position);
CREATE INDEX rm_ft_entrees_cfd ON rm_ft_entrees (cfd);
CREATE INDEX rm_ft_entrees_rncp ON rm_ft_entrees (rncp);

-- The advisors' situations, one per sector, with who and when.
CREATE TABLE rm_ft_actions (
    position         bigint      PRIMARY KEY,
    entree           text        NOT NULL,
    secteur          text        NOT NULL,
    situation        text        NOT NULL,
    commentaire      text,
    date_inscription date        NOT NULL,
    organisation     text        NOT NULL,
    principal        text        NOT NULL,
    recorded_at      timestamptz NOT NULL
);
CREATE INDEX rm_ft_actions_entree ON rm_ft_actions (entree, secteur, position);

CREATE TABLE rm_france_travail_quarantaine (LIKE rm_dossiers_quarantaine INCLUDING ALL);
