-- Checkpoints signed by an operator's Ed25519 key (`tba checkpoint sign`), kept so that auditors can
-- list them (GraphQL) and ask for inclusion proofs against them. Each row is self-verifying: its
-- signature covers (position, hash, merkle_root, signed_at), so altering a row only makes it fail.
CREATE TABLE signed_checkpoints (
    position    bigint      NOT NULL CHECK (position >= 0),
    hash        bytea       NOT NULL CHECK (length(hash) = 32),
    merkle_root bytea       NOT NULL CHECK (length(merkle_root) = 32),
    signed_at   timestamptz NOT NULL,
    public_key  bytea       NOT NULL CHECK (length(public_key) = 32),
    signature   bytea       NOT NULL CHECK (length(signature) = 64),
    PRIMARY KEY (position, public_key, signed_at)
);
