package rights

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema is created and migrated at start-up by these files, in name
// order, under an advisory lock so that instances starting together do not
// race.
//
//go:embed pgschema/*.sql
var pgMigrations embed.FS

// ErrSchemaNewer means the database was migrated by a newer Consentry.
var ErrSchemaNewer = errors.New("rights schema is newer than this binary")

// ErrFeedTruncated means the change feed no longer holds every change after
// the position asked for (the instance was away longer than the retention):
// the caller reloads everything.
var ErrFeedTruncated = errors.New("change feed truncated")

// DefaultPGSchema is the PostgreSQL schema (namespace) of the registry.
const DefaultPGSchema = "consentry"

// Serialisable transactions that lose a race are retried this often.
const pgMaxAttempts = 30

// PGStore is the Store shared by a fleet: one PostgreSQL schema that every
// instance reads and writes. Writes are SERIALIZABLE transactions, retried
// when they lose a race with another instance, so concurrent writers on the
// same subject lose no update; each commit appends what it changed in the
// hot set to a change feed (PGStore implements Feed) and notifies the other
// instances with LISTEN/NOTIFY. Only keyed hashes, flags and times are
// stored. Errors never quote the DSN.
type PGStore struct {
	pool    *pgxpool.Pool
	schema  string
	channel string
	// Advisory lock keys, per schema: schema migration (session lock at
	// start-up) and feed appends (transaction lock at every commit) are
	// separate, so that a starting instance does not block commits.
	migrateKey, feedKey int64
	timeout             time.Duration

	wake     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	listenOK atomic.Bool
	stats    pgStats
}

type pgStats struct {
	notifications, reconnects, retries atomic.Uint64
}

var (
	_ Store = (*PGStore)(nil)
	_ Feed  = (*PGStore)(nil)
)

type pgConfig struct {
	schema   string
	timeout  time.Duration
	maxConns int32
}

// PGOption configures OpenPG.
type PGOption func(*pgConfig)

// WithPGSchema sets the schema (namespace) that holds the registry's
// tables; default DefaultPGSchema. Letters, digits and underscores only.
func WithPGSchema(name string) PGOption { return func(c *pgConfig) { c.schema = name } }

// WithPGTimeout bounds each database call (default 5 s).
func WithPGTimeout(d time.Duration) PGOption { return func(c *pgConfig) { c.timeout = d } }

// WithPGMaxConns sets the size of the connection pool (default 8), besides
// the one connection that listens for notifications.
func WithPGMaxConns(n int32) PGOption { return func(c *pgConfig) { c.maxConns = max(2, n) } }

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// OpenPG connects to PostgreSQL, creates or migrates the schema and starts
// listening for other instances' changes. dsn is a libpq connection string
// or URL; it is never echoed in an error.
func OpenPG(ctx context.Context, dsn string, opts ...PGOption) (*PGStore, error) {
	cfg := pgConfig{schema: DefaultPGSchema, timeout: 5 * time.Second, maxConns: 8}
	for _, o := range opts {
		o(&cfg)
	}
	if !schemaName.MatchString(cfg.schema) {
		return nil, fmt.Errorf("cannot use PostgreSQL schema name %q: use lower-case letters, digits and underscores", cfg.schema)
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("cannot parse the PostgreSQL DSN: it is not a valid connection string or URL")
	}
	pcfg.MaxConns = cfg.maxConns
	pcfg.ConnConfig.ConnectTimeout = cfg.timeout
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to PostgreSQL: %w", innermost(err))
	}
	s := &PGStore{
		pool: pool, schema: cfg.schema, channel: cfg.schema + "_rights", timeout: cfg.timeout,
		wake: make(chan struct{}, 1),
	}
	s.migrateKey, s.feedKey = s.lockKey("schema migration"), s.lockKey("feed")
	pctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot connect to PostgreSQL: %w", innermost(err))
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.listen()
	return s, nil
}

// pgSafe keeps errors of connecting out of logs and replies as pgconn
// words them (their text names the DSN's user and database); every other
// error passes unchanged.
func pgSafe(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("cannot connect to PostgreSQL: %w", innermost(err))
	}
	return err
}

// innermost drops the wrappers of a connection error, whose text names the
// user and database of the DSN, and keeps the cause (refused, timeout,
// authentication failed).
func innermost(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Errorf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func (s *PGStore) q(sql string) string { return strings.ReplaceAll(sql, "{{schema}}", s.schema) }

// lockKey is the advisory lock key of one purpose in this schema.
func (s *PGStore) lockKey(purpose string) int64 {
	h := fnv.New64a()
	h.Write([]byte("consentry rights " + s.schema + " " + purpose))
	return int64(h.Sum64() >> 1)
}

// migrate applies the embedded migrations that the schema lacks, under a
// session advisory lock.
func (s *PGStore) migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 6*s.timeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("cannot connect to PostgreSQL: %w", innermost(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", s.migrateKey); err != nil {
		return fmt.Errorf("cannot lock the rights schema for migration: %w", innermost(err))
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", s.migrateKey)
	files, err := fs.Glob(pgMigrations, "pgschema/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(files)
	_, err = conn.Exec(ctx, s.q(`CREATE SCHEMA IF NOT EXISTS {{schema}};
CREATE TABLE IF NOT EXISTS {{schema}}.schema_version (version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`))
	if err != nil {
		return fmt.Errorf("cannot create the rights schema %s: %w", s.schema, innermost(err))
	}
	var have int
	if err := conn.QueryRow(ctx, s.q("SELECT coalesce(max(version), 0) FROM {{schema}}.schema_version")).Scan(&have); err != nil {
		return fmt.Errorf("cannot read the rights schema version: %w", innermost(err))
	}
	if have > len(files) {
		return fmt.Errorf("cannot use PostgreSQL schema %s: %w (version %d, this binary knows %d): upgrade consentry", s.schema, ErrSchemaNewer, have, len(files))
	}
	for i := have; i < len(files); i++ {
		sql, err := pgMigrations.ReadFile(files[i])
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, s.q(string(sql))); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, s.q("INSERT INTO {{schema}}.schema_version (version) VALUES ($1)"), i+1)
			return err
		})
		if err != nil {
			return fmt.Errorf("cannot migrate the rights schema to version %d: %w", i+1, innermost(err))
		}
	}
	return nil
}

func (s *PGStore) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.timeout)
}

// Bind implements Store.
func (s *PGStore) Bind(name string, fp []byte) error {
	ctx, cancel := s.opCtx()
	defer cancel()
	var got []byte
	var err error
	for range 3 { // a concurrent first insert is seen by the next statement
		err = s.pool.QueryRow(ctx, s.q(`WITH ins AS (
  INSERT INTO {{schema}}.keys (name, fingerprint) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING fingerprint)
SELECT fingerprint FROM ins UNION ALL SELECT fingerprint FROM {{schema}}.keys WHERE name = $1 LIMIT 1`), name, fp).Scan(&got)
		if !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("cannot bind key %s: %w", name, innermost(err))
	}
	if subtle.ConstantTimeCompare(got, fp) != 1 {
		return ErrKeyMismatch
	}
	return nil
}

// Load implements Store: the hot set and the feed position, from one
// snapshot. Because feed rows are appended in commit order, every change
// with a sequence up to the position is in the snapshot, and every later
// one comes through Changes.
func (s *PGStore) Load(fn func(Key, Flags) error) (uint64, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Minute)
	defer cancel()
	var pos int64
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, s.q("SELECT coalesce(max(seq), 0) FROM {{schema}}.changes")).Scan(&pos); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, s.q("SELECT key, flags FROM {{schema}}.hot"))
		if err != nil {
			return err
		}
		defer rows.Close()
		var k []byte
		var f int16
		for rows.Next() {
			if err := rows.Scan(&k, &f); err != nil {
				return err
			}
			if len(k) != KeySize || f <= 0 || f > 255 {
				return fmt.Errorf("cannot load hot set: %w (bad entry)", errBadRecord)
			}
			if err := fn(Key(k), Flags(f)); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("cannot load the hot set from PostgreSQL: %w", innermost(err))
	}
	return uint64(pos), nil
}

// View implements Store (a read-only REPEATABLE READ transaction).
func (s *PGStore) View(fn func(StoreReader) error) error {
	ctx, cancel := s.opCtx()
	defer cancel()
	return pgSafe(pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(&pgTx{s: s, ctx: ctx, tx: tx})
	}))
}

// Update implements Store: a SERIALIZABLE transaction, run again from the
// start (fn included) when PostgreSQL reports a serialization failure or a
// deadlock, so that concurrent writers on different instances never lose an
// update. It returns once the commit is durable (synchronous_commit must
// stay on, the PostgreSQL default).
func (s *PGStore) Update(fn func(StoreTx) error) error {
	var err error
	for attempt := range pgMaxAttempts {
		if attempt > 0 {
			s.stats.retries.Add(1)
			time.Sleep(time.Duration(attempt*attempt) * 200 * time.Microsecond)
		}
		err = s.update(fn)
		if !retryable(err) {
			return pgSafe(err)
		}
	}
	return fmt.Errorf("cannot commit a rights change after %d attempts: %w", pgMaxAttempts, err)
}

func (s *PGStore) update(fn func(StoreTx) error) error {
	ctx, cancel := s.opCtx()
	defer cancel()
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(tx pgx.Tx) error {
		return fn(&pgTx{s: s, ctx: ctx, tx: tx})
	})
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

type pgTx struct {
	s   *PGStore
	ctx context.Context
	tx  pgx.Tx
}

func (t *pgTx) Get(k Key) (Record, bool, error) {
	var b []byte
	err := t.tx.QueryRow(t.ctx, t.s.q("SELECT record FROM {{schema}}.subjects WHERE key = $1"), k[:]).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	rec, err := DecodeRecord(k, b)
	if err != nil {
		return Record{}, false, err
	}
	return rec, true, nil
}

func (t *pgTx) Links(k Key, kind Kind, fn func(Key, time.Time) error) error {
	sql := "SELECT device, last_seen FROM {{schema}}.links WHERE identity = $1"
	if kind == KindDevice {
		sql = "SELECT identity, last_seen FROM {{schema}}.links WHERE device = $1"
	}
	rows, err := t.tx.Query(t.ctx, t.s.q(sql), k[:])
	if err != nil {
		return err
	}
	type link struct {
		other Key
		seen  time.Time
	}
	var others []link
	var o []byte
	var seen time.Time
	for rows.Next() {
		if err := rows.Scan(&o, &seen); err != nil {
			rows.Close()
			return err
		}
		if len(o) != KeySize {
			rows.Close()
			return fmt.Errorf("cannot read links: %w (bad entry)", errBadRecord)
		}
		others = append(others, link{Key(o), seen.UTC()})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// fn may query the same transaction: call it after the rows are closed.
	for _, l := range others {
		if err := fn(l.other, l.seen); err != nil {
			return err
		}
	}
	return nil
}

// StaleLinks reads by the last-seen index; each call starts again from the
// oldest, since the sweep removes or re-stamps every link it was given.
func (t *pgTx) StaleLinks(before time.Time, _ []byte, limit int) ([]Link, []byte, error) {
	rows, err := t.tx.Query(t.ctx, t.s.q("SELECT identity, device FROM {{schema}}.links WHERE last_seen < $1 ORDER BY last_seen LIMIT $2"), before, limit)
	if err != nil {
		return nil, nil, err
	}
	var id, dev []byte
	var out []Link
	_, err = pgx.ForEachRow(rows, []any{&id, &dev}, func() error {
		if len(id) != KeySize || len(dev) != KeySize {
			return fmt.Errorf("cannot read links: %w (bad entry)", errBadRecord)
		}
		out = append(out, Link{Identity: Key(id), Device: Key(dev)})
		return nil
	})
	var next []byte
	if len(out) == limit {
		next = []byte{}
	}
	return out, next, err
}

// Apply implements StoreTx: every write in one pipelined batch, then the
// feed row (under the append lock) and the notification.
func (t *pgTx) Apply(c *Change) error {
	if c.empty() {
		return nil
	}
	q := t.s.q
	b := &pgx.Batch{}
	for i := range c.Records {
		r := &c.Records[i]
		b.Queue(q(`INSERT INTO {{schema}}.subjects (key, kind, reason, record, updated_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key) DO UPDATE SET kind = EXCLUDED.kind, reason = EXCLUDED.reason, record = EXCLUDED.record, updated_at = EXCLUDED.updated_at`),
			r.Key[:], int16(r.Kind), int16(r.Reason), EncodeRecord(r), nonZeroTime(r.Updated))
	}
	for _, h := range c.Hot {
		if h.Flags == 0 {
			b.Queue(q("DELETE FROM {{schema}}.hot WHERE key = $1"), h.Key[:])
		} else {
			b.Queue(q("INSERT INTO {{schema}}.hot (key, flags) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET flags = EXCLUDED.flags"), h.Key[:], int16(h.Flags))
		}
	}
	for _, l := range c.Links {
		b.Queue(q("INSERT INTO {{schema}}.links (identity, device, last_seen) VALUES ($1, $2, $3) ON CONFLICT (identity, device) DO UPDATE SET last_seen = EXCLUDED.last_seen"),
			l.Identity[:], l.Device[:], nonZeroTime(l.Seen))
	}
	for _, l := range c.Unlinks {
		b.Queue(q("DELETE FROM {{schema}}.links WHERE identity = $1 AND device = $2"), l.Identity[:], l.Device[:])
	}
	for i := range c.Log {
		e := &c.Log[i]
		b.Queue(q(`INSERT INTO {{schema}}.log (seq, at, tenant, action, actor, subject, reason, channel, detail, vendor, vendor_status, job, http_status)
VALUES (nextval('{{schema}}.log_seq'), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq`),
			nonZeroTime(e.Time), e.Tenant, e.Action, e.Actor, e.Subject, e.Reason, e.Channel, e.Detail,
			e.Vendor, e.VendorStatus, e.Job, int32(e.HTTPStatus)).
			QueryRow(func(row pgx.Row) error {
				var seq int64
				err := row.Scan(&seq)
				e.Seq = uint64(seq)
				return err
			})
	}
	if len(c.Hot) > 0 || len(c.Sessions) > 0 {
		hot := make([]byte, 0, len(c.Hot)*(KeySize+1))
		for _, h := range c.Hot {
			hot = append(append(hot, h.Key[:]...), byte(h.Flags))
		}
		sess := make([]byte, 0, len(c.Sessions)*2*KeySize)
		for _, l := range c.Sessions {
			sess = append(append(sess, l.Device[:]...), l.Identity[:]...)
		}
		// Held until commit: feed rows are appended in commit order.
		b.Queue("SELECT pg_advisory_xact_lock($1)", t.s.feedKey)
		b.Queue(q("INSERT INTO {{schema}}.changes (seq, hot, sessions) VALUES (nextval('{{schema}}.changes_seq'), $1, $2) RETURNING seq"), hot, sess).
			QueryRow(func(row pgx.Row) error {
				var seq int64
				err := row.Scan(&seq)
				c.FeedSeq = uint64(seq)
				return err
			})
		b.Queue("SELECT pg_notify($1, currval($2)::text)", t.s.channel, t.s.schema+".changes_seq")
	} else {
		// Nothing for the feed; the caller still waits until memory has
		// applied every change this transaction read.
		b.Queue(q("SELECT coalesce(max(seq), 0) FROM {{schema}}.changes")).QueryRow(func(row pgx.Row) error {
			var pos int64
			err := row.Scan(&pos)
			c.FeedSeq = uint64(pos)
			return err
		})
	}
	return t.tx.SendBatch(t.ctx, b).Close()
}

// FeedPosition is the feed position this transaction's snapshot includes:
// a read-only pass that found nothing to change waits until memory has
// applied it, so that what it read is also what lookups see.
func (t *pgTx) FeedPosition() (uint64, error) {
	var pos int64
	err := t.tx.QueryRow(t.ctx, t.s.q("SELECT coalesce(max(seq), 0) FROM {{schema}}.changes")).Scan(&pos)
	return uint64(pos), err
}

// Meta reads a bookkeeping value (0 if unset).
func (t *pgTx) Meta(name string) (uint64, error) {
	var v int64
	err := t.tx.QueryRow(t.ctx, t.s.q("SELECT coalesce((SELECT value FROM {{schema}}.meta WHERE name = $1), 0)"), name).Scan(&v)
	return uint64(v), err
}

// SetMeta writes a bookkeeping value.
func (t *pgTx) SetMeta(name string, v uint64) error {
	_, err := t.tx.Exec(t.ctx, t.s.q("INSERT INTO {{schema}}.meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"), name, int64(v))
	return err
}

// TryExclusive takes a transaction-level advisory lock (see exclusiveTx).
func (t *pgTx) TryExclusive(name string) (bool, error) {
	var got bool
	err := t.tx.QueryRow(t.ctx, "SELECT pg_try_advisory_xact_lock($1)", t.s.lockKey(name)).Scan(&got)
	return got, err
}

func nonZeroTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}

// ReadLog implements Store.
func (s *PGStore) ReadLog(after uint64, limit int) ([]LogEntry, error) {
	ctx, cancel := s.opCtx()
	defer cancel()
	rows, err := s.pool.Query(ctx, s.q(`SELECT seq, at, tenant, action, actor, subject, reason, channel, detail, vendor, vendor_status, job, http_status
FROM {{schema}}.log WHERE seq > $1 ORDER BY seq LIMIT $2`), int64(after), limit)
	if err != nil {
		return nil, pgSafe(err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (LogEntry, error) {
		var e LogEntry
		var seq int64
		var status int32
		err := row.Scan(&seq, &e.Time, &e.Tenant, &e.Action, &e.Actor, &e.Subject, &e.Reason, &e.Channel, &e.Detail,
			&e.Vendor, &e.VendorStatus, &e.Job, &status)
		e.Seq, e.Time, e.HTTPStatus = uint64(seq), e.Time.UTC(), int(status)
		return e, err
	})
}

// Changes implements Feed. One statement, so one snapshot: the pruning
// mark read with the rows is the one that applies to them. Pruning never
// deletes the newest row, so when no row follows after, after is not behind
// the mark either.
func (s *PGStore) Changes(ctx context.Context, after uint64, limit int) ([]FeedChange, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, s.q(`SELECT seq, hot, sessions, reset,
  (SELECT value FROM {{schema}}.meta WHERE name = 'pruned_through')
FROM {{schema}}.changes WHERE seq > $1 ORDER BY seq LIMIT $2`), int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("cannot read the rights change feed: %w", innermost(err))
	}
	var (
		out         []FeedChange
		seq, pruned int64
		hot, sess   []byte
		reset       bool
		truncated   bool
	)
	_, err = pgx.ForEachRow(rows, []any{&seq, &hot, &sess, &reset, &pruned}, func() error {
		if after < uint64(pruned) {
			truncated = true
			return ErrFeedTruncated
		}
		ch, err := decodeFeedChange(uint64(seq), hot, sess, reset)
		out = append(out, ch)
		return err
	})
	if truncated {
		return nil, ErrFeedTruncated
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the rights change feed: %w", innermost(err))
	}
	return out, nil
}

func decodeFeedChange(seq uint64, hot, sess []byte, reset bool) (FeedChange, error) {
	ch := FeedChange{Seq: seq, Reset: reset}
	if len(hot)%(KeySize+1) != 0 || len(sess)%(2*KeySize) != 0 {
		return ch, fmt.Errorf("cannot decode change %d: %w", seq, errBadRecord)
	}
	for p := hot; len(p) > 0; p = p[KeySize+1:] {
		ch.Hot = append(ch.Hot, HotEntry{Key: Key(p[:KeySize]), Flags: Flags(p[KeySize])})
	}
	for p := sess; len(p) > 0; p = p[2*KeySize:] {
		ch.Sessions = append(ch.Sessions, Link{Device: Key(p[:KeySize]), Identity: Key(p[KeySize : 2*KeySize])})
	}
	return ch, nil
}

// Prune deletes feed rows older than keep (never the newest one, which
// marks the feed position) and records how far it pruned: an instance whose
// position is older reloads everything.
func (s *PGStore) Prune(ctx context.Context, keep time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 6*s.timeout)
	defer cancel()
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var through *int64
		err := tx.QueryRow(ctx, s.q(`WITH gone AS (
  DELETE FROM {{schema}}.changes WHERE at < now() - make_interval(secs => $1)
    AND seq < (SELECT max(seq) FROM {{schema}}.changes) RETURNING seq)
SELECT max(seq), count(*) FROM gone`), keep.Seconds()).Scan(&through, &n)
		if err != nil || through == nil {
			return err
		}
		_, err = tx.Exec(ctx, s.q("UPDATE {{schema}}.meta SET value = greatest(value, $1) WHERE name = 'pruned_through'"), *through)
		return err
	})
	return n, pgSafe(err)
}

// Wake implements Feed: a send on it means that another instance may have
// committed a change (a notification arrived, or the listening connection
// was re-established and a catch-up is due).
func (s *PGStore) Wake() <-chan struct{} { return s.wake }

func (s *PGStore) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// listen keeps one connection LISTENing on the registry's channel,
// reconnecting with backoff. Notifications only cut latency: correctness
// comes from polling the feed by position.
func (s *PGStore) listen() {
	defer s.wg.Done()
	delay := 50 * time.Millisecond
	for s.ctx.Err() == nil {
		if err := s.listenOnce(); err == nil || s.ctx.Err() != nil {
			return
		}
		s.listenOK.Store(false)
		s.stats.reconnects.Add(1)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func (s *PGStore) listenOnce() error {
	cctx, cancel := s.opCtx()
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	cctx, cancel = s.opCtx()
	_, err = conn.Exec(cctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize())
	cancel()
	if err != nil {
		return err
	}
	s.listenOK.Store(true)
	s.poke() // catch up on what was committed while not listening
	for {
		// Wake up now and then so that a dead peer is noticed (the
		// server's TCP keepalive may take hours).
		wctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			s.stats.notifications.Add(1)
			s.poke()
		case s.ctx.Err() != nil:
			return nil
		case pgconn.Timeout(err):
			pctx, cancel := s.opCtx()
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// PGStats are the store's counters for metrics.
type PGStats struct {
	Notifications, ListenReconnects, SerializationRetries uint64
	Listening                                             bool
}

// Stats returns the store's counters.
func (s *PGStore) Stats() PGStats {
	return PGStats{
		Notifications: s.stats.notifications.Load(), ListenReconnects: s.stats.reconnects.Load(),
		SerializationRetries: s.stats.retries.Load(), Listening: s.listenOK.Load(),
	}
}

// Interrupt makes every database call in flight, and every later one, give
// up at once; the registry calls it when it closes, before it waits for its
// goroutines.
func (s *PGStore) Interrupt() { s.cancel() }

// Close implements Store.
func (s *PGStore) Close() error {
	s.cancel()
	s.wg.Wait()
	s.pool.Close()
	return nil
}
