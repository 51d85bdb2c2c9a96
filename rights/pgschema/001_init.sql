-- Consentry rights registry, schema version 1. Every subject is a keyed hash
-- (16 bytes of HMAC-SHA-256 under the registry key): no raw identifier is
-- ever stored. The schema name is substituted for {{schema}}.

-- Key fingerprints: the registry key ("rights") and each tenant's
-- pseudonymisation keys, so that an instance with other keys refuses to start.
CREATE TABLE {{schema}}.keys (
    name        text PRIMARY KEY,
    fingerprint bytea NOT NULL
);

-- One row per subject: its state, encoded as in the embedded store
-- (reason, allow-system flag, times, session identity, consent per channel).
CREATE TABLE {{schema}}.subjects (
    key        bytea PRIMARY KEY CHECK (length(key) = 16),
    kind       smallint NOT NULL,
    reason     smallint NOT NULL,
    record     bytea NOT NULL,
    updated_at timestamptz NOT NULL
);

-- The hot set: every subject that can suppress a record, with its one-byte
-- flags. Every instance keeps all of it in memory.
CREATE TABLE {{schema}}.hot (
    key   bytea PRIMARY KEY CHECK (length(key) = 16),
    flags smallint NOT NULL CHECK (flags > 0 AND flags < 256)
);

-- Identity-device links, both directions.
CREATE TABLE {{schema}}.links (
    identity  bytea NOT NULL,
    device    bytea NOT NULL,
    last_seen timestamptz NOT NULL,
    PRIMARY KEY (identity, device)
);
CREATE INDEX links_by_device ON {{schema}}.links (device, identity);

-- The rights-request log (what, when, who; subjects as hash prefixes).
CREATE SEQUENCE {{schema}}.log_seq;
CREATE TABLE {{schema}}.log (
    seq     bigint PRIMARY KEY,
    at      timestamptz NOT NULL,
    tenant  text NOT NULL,
    action  text NOT NULL,
    actor   text NOT NULL,
    subject text NOT NULL,
    reason  text NOT NULL DEFAULT '',
    channel text NOT NULL DEFAULT '',
    detail  text NOT NULL DEFAULT ''
);

-- The change feed: what every commit changed in the hot set and in device
-- sessions, so that the other instances apply it. Rows are appended under
-- an advisory lock held until commit, so seq order is commit order; a gap is
-- a transaction that drew a number and rolled back.
CREATE SEQUENCE {{schema}}.changes_seq;
CREATE TABLE {{schema}}.changes (
    seq      bigint PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    hot      bytea NOT NULL,            -- (key 16 bytes, flags 1 byte)*
    sessions bytea NOT NULL,            -- (device 16 bytes, identity 16 bytes)*
    reset    boolean NOT NULL DEFAULT false  -- reload everything (after a migration)
);

-- Bookkeeping: the highest pruned change sequence.
CREATE TABLE {{schema}}.meta (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO {{schema}}.meta (name, value) VALUES ('pruned_through', 0);
