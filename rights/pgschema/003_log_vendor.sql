-- Schema version 3: the rights log records each vendor deletion of an admin
-- erasure: the vendor, its state (requested, accepted, failed, skipped),
-- the vendor's job id and HTTP status. Never an identifier.
ALTER TABLE {{schema}}.log
    ADD COLUMN vendor        text    NOT NULL DEFAULT '',
    ADD COLUMN vendor_status text    NOT NULL DEFAULT '',
    ADD COLUMN job           text    NOT NULL DEFAULT '',
    ADD COLUMN http_status   integer NOT NULL DEFAULT 0;
