-- People's accounts for the console (domain.md §14): an e-mail and a password (argon2id), with a role
-- and a scope exactly like an API key's; one-time links to set a password (an invitation, a reset an
-- administrator issues); sessions; failed sign-ins, to throttle them.
CREATE TABLE comptes (
    id              uuid        PRIMARY KEY,
    -- Lower case, as typed otherwise.
    email           text        NOT NULL UNIQUE,
    -- The PHC string of argon2id; NULL until the person sets one through their invitation.
    password_hash   text,
    role            text        NOT NULL,
    organisme_uai   text,
    organisme_siret text,
    scope_kind      text,
    scope_value     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz,
    CHECK ((organisme_uai IS NULL) = (organisme_siret IS NULL)),
    CHECK ((scope_kind IS NULL) = (scope_value IS NULL))
);

-- A link is shown (or sent) once: only its digest is kept, and it serves once.
CREATE TABLE comptes_liens (
    token_sha256 bytea       PRIMARY KEY CHECK (length(token_sha256) = 32),
    compte_id    uuid        NOT NULL REFERENCES comptes (id),
    -- `invitation` or `reinitialisation`.
    genre        text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX comptes_liens_compte ON comptes_liens (compte_id);

CREATE TABLE sessions (
    token_sha256 bytea       PRIMARY KEY CHECK (length(token_sha256) = 32),
    compte_id    uuid        NOT NULL REFERENCES comptes (id),
    -- The token every form of the session carries (CSRF).
    csrf         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    -- The session ends then at the latest, however active.
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_compte ON sessions (compte_id);

CREATE TABLE connexions_echouees (
    email text        NOT NULL,
    at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connexions_echouees_email ON connexions_echouees (email, at);
