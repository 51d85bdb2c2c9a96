package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/rights"
)

// registry is the opened rights registry and what runs beside it.
type registry struct {
	reg  *rights.Registry
	pg   *rights.PGStore // nil: the embedded store
	stop context.CancelFunc
	done chan struct{}
}

// openRegistry opens the registry the config names: the embedded bbolt
// store in data_dir, or the PostgreSQL store a fleet shares. Errors name
// the config key and never quote a secret.
func openRegistry(cfg *config.Config, log *slog.Logger) (*registry, error) {
	pg := cfg.Rights.Postgres
	if pg == nil {
		key, err := config.RegistryKey(cfg.DataDir, cfg.Rights.Key)
		if err != nil {
			return nil, err
		}
		reg, err := rights.Open(cfg.DataDir, key, linkBounds(cfg))
		if err != nil {
			return nil, fmt.Errorf("cannot open the rights registry in %s (data_dir / --data): %w", cfg.DataDir, err)
		}
		log.Info("rights registry open", "store", "embedded", "subjects", reg.Len(), "path", cfg.DataDir)
		return &registry{reg: reg}, nil
	}
	key, err := cfg.Rights.Key.Resolve()
	switch {
	case err != nil:
		return nil, fmt.Errorf("rights.key: %w", err)
	case len(key) < rights.MinKeyLen:
		return nil, fmt.Errorf("rights.key: must be at least %d bytes", rights.MinKeyLen)
	}
	dsn, err := pg.DSN.Resolve()
	if err != nil {
		return nil, fmt.Errorf("rights.postgres.dsn: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*pg.Timeout)
	defer cancel()
	st, err := rights.OpenPG(ctx, string(dsn), rights.WithPGSchema(pg.Schema), rights.WithPGTimeout(pg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("rights.postgres: %w", err)
	}
	start := time.Now()
	opts := []rights.Option{rights.WithMaxStaleness(pg.MaxStaleness), linkBounds(cfg)}
	if pg.PollInterval > 0 {
		opts = append(opts, rights.WithPollInterval(pg.PollInterval))
	}
	reg, err := rights.New(st, key, opts...)
	if err != nil {
		st.Close()
		if errors.Is(err, rights.ErrKeyMismatch) {
			return nil, fmt.Errorf("rights.key: the database (rights.postgres, schema %s) was created with another registry key; every instance needs the same key: %w", pg.Schema, err)
		}
		return nil, fmt.Errorf("rights.postgres: %w", err)
	}
	log.Info("rights registry open", "store", "postgres", "schema", pg.Schema, "subjects", reg.Len(),
		"load_seconds", time.Since(start).Seconds(), "max_staleness", pg.MaxStaleness.String())
	pctx, stop := context.WithCancel(context.Background())
	r := &registry{reg: reg, pg: st, stop: stop, done: make(chan struct{})}
	go r.prune(pctx, pg.ChangeRetention, log)
	return r, nil
}

func linkBounds(cfg *config.Config) rights.Option {
	l := cfg.Rights.Links
	return rights.WithLinkBounds(rights.LinkBounds{TTL: l.TTL, MaxDevicesPerIdentity: l.MaxDevicesPerIdentity, MaxIdentitiesPerDevice: l.MaxIdentitiesPerDevice})
}

// bindTenantKeys makes sure every instance of a fleet pseudonymises alike:
// a tenant's keys must come from config and match what the database bound
// first.
func (r *registry) bindTenantKeys(name string, keys *config.TenantKeys) error {
	if r.pg == nil {
		return nil
	}
	if keys.Generated {
		return fmt.Errorf("tenants.%s.keys: a shared rights registry (rights.postgres) needs the tenant's hmac and token keys in config, the same on every instance (keys generated into one instance's data directory would give other pseudonyms)", name)
	}
	for _, k := range []struct {
		what string
		key  []byte
	}{{"hmac", keys.HMAC}, {"token", keys.Token}} {
		if err := r.reg.BindKey("tenant/"+name+"/"+k.what, k.key); err != nil {
			if errors.Is(err, rights.ErrKeyMismatch) {
				return fmt.Errorf("tenants.%s.keys.%s: another instance of this fleet uses a different key; pseudonyms would not match: %w", name, k.what, err)
			}
			return fmt.Errorf("tenants.%s.keys.%s: %w", name, k.what, err)
		}
	}
	return nil
}

// prune trims the change feed now and then; every instance does it (the
// deletes are idempotent).
func (r *registry) prune(ctx context.Context, keep time.Duration, log *slog.Logger) {
	defer close(r.done)
	every := min(keep/4, 10*time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := r.pg.Prune(ctx, keep); err != nil {
				log.Warn("cannot prune the rights change feed", "error", err.Error())
			} else if n > 0 {
				log.Info("rights change feed pruned", "rows", n)
			}
		}
	}
}

func (r *registry) close() {
	if r.stop != nil {
		r.stop()
		<-r.done
	}
	r.reg.Close()
}
