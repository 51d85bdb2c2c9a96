package rights

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"
)

// MigrateStats counts what Migrate copied; Skipped are subjects PostgreSQL
// already held (its state wins).
type MigrateStats struct {
	Subjects int `json:"subjects"`
	Skipped  int `json:"subjectsAlreadyPresent"`
	Hot      int `json:"hotEntries"`
	Links    int `json:"links"`
	Log      int `json:"logEntries"`
}

// Migrate copies an embedded registry into a shared one, so that a single
// node can grow into a fleet. Both must be bound to key (hashes cannot be
// re-keyed: the raw identifiers are not stored). It is idempotent: a
// subject PostgreSQL already holds keeps its PostgreSQL state (with its hot
// entry), links are unions, and log entries are copied once (the position
// reached is kept in the database). Running instances reload their memory
// afterwards (a reset row in the change feed).
func Migrate(ctx context.Context, from *BoltStore, to *PGStore, key []byte) (MigrateStats, error) {
	var st MigrateStats
	k, err := newKeyer(key)
	if err != nil {
		return st, err
	}
	fp := k.fingerprint()
	if err := from.Bind(BindRegistry, fp[:]); err != nil {
		return st, fmt.Errorf("cannot read the embedded registry: %w (it was created with another key)", err)
	}
	if err := to.Bind(BindRegistry, fp[:]); err != nil {
		return st, fmt.Errorf("cannot write the shared registry: %w (it was created with another key)", err)
	}
	err = pgx.BeginFunc(ctx, to.pool, func(tx pgx.Tx) error {
		q := to.q
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE mig_subjects (key bytea, kind smallint, reason smallint, record bytea, updated_at timestamptz) ON COMMIT DROP;
CREATE TEMP TABLE mig_hot (key bytea, flags smallint) ON COMMIT DROP;
CREATE TEMP TABLE mig_links (identity bytea, device bytea) ON COMMIT DROP`); err != nil {
			return err
		}
		var subjects, hot, links [][]any
		var log []LogEntry
		var logThrough int64
		if err := tx.QueryRow(ctx, q("SELECT coalesce((SELECT value FROM {{schema}}.meta WHERE name = 'migrated_log_through'), 0)")).Scan(&logThrough); err != nil {
			return err
		}
		err := from.db.View(func(btx *bolt.Tx) error {
			err := btx.Bucket(bucketSubjects).ForEach(func(kb, v []byte) error {
				rec, err := DecodeRecord(Key(kb), v)
				if err != nil {
					return err
				}
				subjects = append(subjects, []any{append([]byte(nil), kb...), int16(rec.Kind), int16(rec.Reason), append([]byte(nil), v...), nonZeroTime(rec.Updated)})
				return nil
			})
			if err != nil {
				return err
			}
			err = btx.Bucket(bucketHot).ForEach(func(kb, v []byte) error {
				hot = append(hot, []any{append([]byte(nil), kb...), int16(v[0])})
				return nil
			})
			if err != nil {
				return err
			}
			err = btx.Bucket(bucketLinks).ForEach(func(kb, _ []byte) error {
				if len(kb) != 2*KeySize {
					return fmt.Errorf("cannot read links: %w", errBadRecord)
				}
				links = append(links, []any{append([]byte(nil), kb[:KeySize]...), append([]byte(nil), kb[KeySize:]...)})
				return nil
			})
			if err != nil {
				return err
			}
			c := btx.Bucket(bucketLog).Cursor()
			for kb, v := c.Seek(binary.BigEndian.AppendUint64(nil, uint64(logThrough)+1)); kb != nil; kb, v = c.Next() {
				var e LogEntry
				if err := json.Unmarshal(v, &e); err != nil {
					return fmt.Errorf("cannot decode rights log entry: %w", err)
				}
				log = append(log, e)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, t := range []struct {
			name string
			cols []string
			rows [][]any
		}{
			{"mig_subjects", []string{"key", "kind", "reason", "record", "updated_at"}, subjects},
			{"mig_hot", []string{"key", "flags"}, hot},
			{"mig_links", []string{"identity", "device"}, links},
		} {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
				return err
			}
		}
		// Hot entries only for subjects PostgreSQL did not hold yet (or that
		// have no record: devices suppressed only through their identity).
		tag, err := tx.Exec(ctx, q(`INSERT INTO {{schema}}.hot (key, flags)
SELECT h.key, h.flags FROM mig_hot h
WHERE NOT EXISTS (SELECT 1 FROM {{schema}}.subjects s WHERE s.key = h.key)
ON CONFLICT (key) DO NOTHING`))
		if err != nil {
			return err
		}
		st.Hot = int(tag.RowsAffected())
		tag, err = tx.Exec(ctx, q(`INSERT INTO {{schema}}.subjects (key, kind, reason, record, updated_at)
SELECT key, kind, reason, record, updated_at FROM mig_subjects ON CONFLICT (key) DO NOTHING`))
		if err != nil {
			return err
		}
		st.Subjects, st.Skipped = int(tag.RowsAffected()), len(subjects)-int(tag.RowsAffected())
		tag, err = tx.Exec(ctx, q(`INSERT INTO {{schema}}.links (identity, device, last_seen)
SELECT identity, device, now() FROM mig_links ON CONFLICT (identity, device) DO NOTHING`))
		if err != nil {
			return err
		}
		st.Links = int(tag.RowsAffected())
		for _, e := range log {
			if _, err := tx.Exec(ctx, q(`INSERT INTO {{schema}}.log (seq, at, tenant, action, actor, subject, reason, channel, detail)
VALUES (nextval('{{schema}}.log_seq'), $1, $2, $3, $4, $5, $6, $7, $8)`),
				nonZeroTime(e.Time), e.Tenant, e.Action, e.Actor, e.Subject, e.Reason, e.Channel, migratedDetail(e.Detail)); err != nil {
				return err
			}
			logThrough = int64(e.Seq)
		}
		st.Log = len(log)
		if _, err := tx.Exec(ctx, q(`INSERT INTO {{schema}}.meta (name, value) VALUES ('migrated_log_through', $1)
ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`), logThrough); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", to.feedKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, q(`INSERT INTO {{schema}}.changes (seq, hot, sessions, reset)
VALUES (nextval('{{schema}}.changes_seq'), '', '', true)`)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, currval($2)::text)", to.channel, to.schema+".changes_seq")
		return err
	})
	if err != nil {
		return st, fmt.Errorf("cannot migrate the rights registry: %w", innermost(err))
	}
	return st, nil
}

func migratedDetail(d string) string {
	if d == "" {
		return "migrated from the embedded store"
	}
	return d + "; migrated from the embedded store"
}
