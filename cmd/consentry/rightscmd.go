package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/rights"
)

const rightsUsage = `usage: consentry rights migrate --config FILE [--from-data DIR]

Copies the embedded registry (DIR/rights.db, default the config's data_dir)
into the PostgreSQL registry of rights.postgres, so that a single node can
grow into a fleet. rights.key must be the key the embedded registry was
created with; a generated key is in DIR/keys/rights.key:
  rights: {key: {file: DIR/keys/rights.key, encoding: base64}}
It merges: the stronger suppression wins, consent and erasure times keep
the latest, links are a union; running instances apply the result through
the change feed. Run it again to merge what is new.
`

func cmdRights(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "migrate" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, rightsUsage)
			return 0
		}
		fmt.Fprint(stderr, rightsUsage)
		return 2
	}
	fl := flag.NewFlagSet("rights migrate", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", "", "configuration file with rights.key and rights.postgres")
	from := fl.String("from-data", "", "data directory holding rights.db (default: the config's data_dir)")
	fl.Usage = func() { fmt.Fprint(stderr, rightsUsage) }
	if err := fl.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *cfgPath == "" || fl.NArg() > 0 {
		fmt.Fprint(stderr, rightsUsage)
		return 2
	}
	stats, err := migrateRights(*cfgPath, *from)
	if err != nil {
		fmt.Fprintln(stderr, "consentry rights migrate:", err)
		return 1
	}
	b, _ := json.MarshalIndent(stats, "", "  ")
	fmt.Fprintln(stdout, string(b))
	return 0
}

func migrateRights(cfgPath, from string) (rights.MigrateStats, error) {
	var st rights.MigrateStats
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return st, err
	}
	pg := cfg.Rights.Postgres
	if pg == nil {
		return st, fmt.Errorf("rights.postgres: not set in %s; it names the registry to copy into", cfgPath)
	}
	if err := cfg.Validate(); err != nil {
		return st, err
	}
	key, err := cfg.Rights.Key.Resolve()
	if err != nil {
		return st, fmt.Errorf("rights.key: %w", err)
	}
	dsn, err := pg.DSN.Resolve()
	if err != nil {
		return st, fmt.Errorf("rights.postgres.dsn: %w", err)
	}
	if from == "" {
		from = cfg.DataDir
	}
	src, err := rights.OpenBoltReadOnly(from)
	if err != nil {
		return st, err
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dst, err := rights.OpenPG(ctx, string(dsn), rights.WithPGSchema(pg.Schema), rights.WithPGTimeout(pg.Timeout))
	if err != nil {
		return st, fmt.Errorf("rights.postgres: %w", err)
	}
	reg, err := rights.New(dst, key, rights.WithMaxStaleness(pg.MaxStaleness), rights.WithLinkBounds(rights.LinkBounds{TTL: -1}))
	if err != nil {
		dst.Close()
		if errors.Is(err, rights.ErrKeyMismatch) {
			return st, fmt.Errorf("rights.key: the database was created with another key: %w", err)
		}
		return st, fmt.Errorf("rights.postgres: %w", err)
	}
	defer reg.Close()
	st, err = rights.Migrate(ctx, src, reg)
	if errors.Is(err, rights.ErrKeyMismatch) {
		return st, fmt.Errorf("rights.key: %w; it must be the key %s was created with", err, from)
	}
	return st, err
}
