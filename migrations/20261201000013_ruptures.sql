-- The read model of the `ruptures` projection (domain.md §7): the queue of young people in rupture that
-- each Mission Locale calls. Everything is the projection's own, folded from the log, so that a replay
-- "as known at position P" places people by the territories of that time.

-- The Missions Locales and their territories, from the `MissionLocaleEnregistree` events.
CREATE TABLE rm_missions_locales (
    id        text   PRIMARY KEY,
    nom       text   NOT NULL,
    siret     text   NOT NULL,
    email     text,
    telephone text,
    -- The région most of its communes are in (ARML and DREETS see the statistics of their région).
    region    text   NOT NULL,
    position  bigint NOT NULL
);

CREATE TABLE rm_ml_communes (
    commune text PRIMARY KEY,
    ml_id   text NOT NULL
);
CREATE INDEX rm_ml_communes_ml ON rm_ml_communes (ml_id);

-- What the queue needs of every dossier: whose it is, its parcours, and where the learner lives.
CREATE TABLE rm_rupture_dossiers (
    dossier_id         text    PRIMARY KEY,
    personne           text    NOT NULL,
    parcours           jsonb   NOT NULL,
    date_de_naissance  date    NOT NULL,
    rqth               boolean NOT NULL,
    code_commune_insee text,
    code_postal        text,
    retire             boolean NOT NULL,
    uai_formateur      text    NOT NULL,
    siret_formateur    text    NOT NULL,
    uai_responsable    text    NOT NULL,
    siret_responsable  text    NOT NULL,
    position           bigint  NOT NULL
);
CREATE INDEX rm_rupture_dossiers_personne ON rm_rupture_dossiers (personne);

-- The rupture episodes of each person, while eligible (`active`); the person's one entry nationwide on
-- a day is their latest episode begun by then. Whether it is in the visible queue that day,
-- prioritaire, or flagged "nouveau contrat" is decided when queried from the dates kept here.
CREATE TABLE rm_ruptures (
    entree             text    NOT NULL,               -- the person key
    active             boolean NOT NULL,
    ml_id              text,                           -- null: no Mission Locale serves the residence
    dossier_id         text    NOT NULL,               -- the dossier of the rupture
    date_rupture       date    NOT NULL,               -- first RUPTURANT day
    contrat_debut      date    NOT NULL,               -- first day of the contract it ended
    sortie             date,                           -- back under contract, or end of the formation
    sortie_motif       text,                           -- NOUVEAU_CONTRAT | FIN_DE_FORMATION
    date_de_naissance  date    NOT NULL,
    rqth               boolean NOT NULL,
    code_commune_insee text,
    code_postal        text,
    uai_formateur      text    NOT NULL,
    siret_formateur    text    NOT NULL,
    uai_responsable    text    NOT NULL,
    siret_responsable  text    NOT NULL,
    -- The advisor's latest qualification of this episode (null: à traiter).
    situation          text,
    situation_autre    text,
    commentaire        text,
    connaissance       text,
    qualifiee_le       timestamptz,
    -- The CFA asked for a joint follow-up of this episode.
    suivi_conjoint     boolean NOT NULL,
    -- The log position of the last event about the person.
    position           bigint  NOT NULL,
    PRIMARY KEY (entree, date_rupture)
);
CREATE INDEX rm_ruptures_ml ON rm_ruptures (ml_id, entree, date_rupture DESC) WHERE active;
CREATE INDEX rm_ruptures_position ON rm_ruptures (ml_id, position);
CREATE INDEX rm_ruptures_formateur ON rm_ruptures (uai_formateur, siret_formateur);
CREATE INDEX rm_ruptures_responsable ON rm_ruptures (uai_responsable, siret_responsable);

-- Every action on a follow-up stream, for the history of an entry and the statistics of past days.
CREATE TABLE rm_rupture_actions (
    position     bigint      PRIMARY KEY,
    entree       text        NOT NULL,
    event_type   text        NOT NULL,
    recorded_at  timestamptz NOT NULL,
    organisation text        NOT NULL,
    principal    text        NOT NULL,
    date_rupture date        NOT NULL,
    situation    text,
    data         jsonb       NOT NULL
);
CREATE INDEX rm_rupture_actions_entree ON rm_rupture_actions (entree, position);
