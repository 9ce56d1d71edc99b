-- The Missions Locales referential as lookup tables, written in the same transaction as the
-- `MissionLocaleEnregistree` events they mirror (stream `mission_locale-<id>`): each current commune
-- (INSEE code) belongs to at most one Mission Locale, the one a young person living there is sent to.
CREATE TABLE missions_locales (
    id               text   PRIMARY KEY,
    nom              text   NOT NULL,
    siret            text   NOT NULL,
    email            text,
    telephone        text,
    updated_position bigint NOT NULL
);

CREATE TABLE ml_communes (
    commune text PRIMARY KEY,
    ml_id   text NOT NULL REFERENCES missions_locales (id)
);
CREATE INDEX ml_communes_ml ON ml_communes (ml_id);
