-- Schema version 2: the link sweep finds links unseen for the TTL by this
-- index instead of scanning the table (a scan inside a SERIALIZABLE
-- transaction would take a relation-wide predicate lock).
CREATE INDEX links_by_last_seen ON {{schema}}.links (last_seen);
