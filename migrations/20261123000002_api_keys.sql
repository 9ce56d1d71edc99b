-- API keys: who calls. Only a SHA-256 of the secret is stored; the secret is shown once, at creation.
CREATE TABLE api_keys (
    id              uuid        PRIMARY KEY,
    -- The first characters of the secret, to name a key in lists and logs without revealing it.
    prefix          text        NOT NULL UNIQUE,
    secret_sha256   bytea       NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    role            text        NOT NULL,
    organisme_uai   text,
    organisme_siret text,
    scope_kind      text,
    scope_value     text,
    label           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    CHECK ((organisme_uai IS NULL) = (organisme_siret IS NULL)),
    CHECK ((scope_kind IS NULL) = (scope_value IS NULL))
);
