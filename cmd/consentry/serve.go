package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/consentry/consentry/audit"
	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/proxy"
)

type serveFlags struct {
	config, listen, admin, upstream, policy, data, tlsCert, tlsKey, audit string
}

func cmdServe(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var f serveFlags
	fl.StringVar(&f.config, "config", "", "YAML config file (optional with --upstream)")
	fl.StringVar(&f.listen, "listen", "", "proxy listen address (default "+config.DefaultListen+")")
	fl.StringVar(&f.admin, "admin", "", "admin listen address for /livez, /readyz, /metrics (default "+config.DefaultAdmin+")")
	fl.StringVar(&f.upstream, "upstream", "", "upstream base URL; without --config, runs single-tenant")
	fl.StringVar(&f.policy, "policy", "", "Rego policy directory (default: the embedded rules/)")
	fl.StringVar(&f.data, "data", "", "data directory for generated keys and state (default "+config.DefaultDataDir+")")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file (with --tls-key)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "TLS key file (with --tls-cert)")
	fl.StringVar(&f.audit, "audit", "", `audit output: "stdout", "off" or a file path`)
	if err := fl.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	if err := serve(f, stdout, log); err != nil {
		fmt.Fprintf(stderr, "consentry serve: %v\n", err)
		return 1
	}
	return 0
}

func loadServeConfig(f serveFlags) (*config.Config, error) {
	var cfg *config.Config
	switch {
	case f.config != "":
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
		if f.upstream != "" { // flags override the file: every tenant's default upstream
			for name, t := range cfg.Tenants {
				t.Upstream = f.upstream
				cfg.Tenants[name] = t
			}
		}
	case f.upstream != "":
		cfg = config.Default()
		cfg.SingleTenant = true
		cfg.Tenants = map[string]config.Tenant{config.DefaultTenantName: {Upstream: f.upstream}}
		cfg.DefaultTenant = config.DefaultTenantName
	default:
		return nil, errors.New("give --upstream URL (single tenant, no file needed) or --config FILE")
	}
	overrides := []struct {
		flag string
		dst  *string
	}{{f.listen, &cfg.Listen}, {f.admin, &cfg.Admin}, {f.data, &cfg.DataDir}, {f.tlsCert, &cfg.TLS.CertFile}, {f.tlsKey, &cfg.TLS.KeyFile}, {f.audit, &cfg.Audit.Output}, {f.policy, &cfg.Policy.Dir}}
	for _, o := range overrides {
		if o.flag != "" {
			*o.dst = o.flag
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func serve(f serveFlags, stdout io.Writer, log *slog.Logger) error {
	cfg, err := loadServeConfig(f)
	if err != nil {
		return err
	}
	proxy.Version = version
	engine, err := newPolicy(cfg.Policy.Dir, cfg, log)
	if err != nil {
		return err
	}
	defer engine.Close()

	names := make([]string, 0, len(cfg.Tenants))
	for name := range cfg.Tenants {
		names = append(names, name)
	}
	sort.Strings(names)
	var specs []proxy.TenantSpec
	for _, name := range names {
		t := cfg.Tenants[name]
		keys, err := config.ResolveKeys(cfg.DataDir, name, t.Keys)
		if err != nil {
			return err
		}
		applier, err := newApplier(keys)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", name, err)
		}
		ups := map[string]string{}
		if t.Upstream != "" {
			ups[""] = t.Upstream
		}
		for k, v := range t.Upstreams {
			ups[k] = v
		}
		accounts := t.Accounts
		if len(accounts) == 0 && !cfg.SingleTenant {
			accounts = []string{name}
		}
		specs = append(specs, proxy.TenantSpec{Name: name, Accounts: accounts, Applier: applier, Upstreams: ups})
		if keys.Generated {
			log.Info("tenant keys kept in the data directory; back them up: losing them changes every pseudonym", "tenant", name, "path", keys.Path)
		}
	}
	if cfg.SingleTenant {
		log.Info("single-tenant mode: every account id is served by the default tenant", "tenant", config.DefaultTenantName, "upstream", cfg.Tenants[config.DefaultTenantName].Upstream, "data_dir", cfg.DataDir)
	}

	var auditOut io.Writer
	switch cfg.Audit.Output {
	case "off":
	case "stdout":
		auditOut = stdout
	default:
		file, err := os.OpenFile(cfg.Audit.Output, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("audit.output: %w", err)
		}
		defer file.Close()
		auditOut = file
	}
	auditLog := audit.New(auditOut, time.Second)
	defer auditLog.Close()

	metrics := proxy.NewMetrics(policyStats{engine})
	p, err := proxy.New(cfg, engine, specs, cfg.DefaultTenant, allRoutes(),
		proxy.WithAudit(auditLog), proxy.WithLogger(log), proxy.WithMetrics(metrics))
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (listen / --listen): %w", cfg.Listen, err)
	}
	adminLn, err := net.Listen("tcp", cfg.Admin)
	if err != nil {
		ln.Close()
		return fmt.Errorf("cannot listen on %s (admin / --admin): %w", cfg.Admin, err)
	}
	adminSrv := &http.Server{Handler: proxy.AdminMux(p), ReadHeaderTimeout: 5 * time.Second}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if cfg.Policy.Dir != "" && (cfg.Policy.Watch == nil || *cfg.Policy.Watch) {
		go engine.Watch(ctx)
	}
	errc := make(chan error, 2)
	go func() { errc <- p.Serve(ln) }()
	go func() {
		if err := adminSrv.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	log.Info("consentry serving", "version", version, "listen", scheme+"://"+ln.Addr().String(), "admin", "http://"+adminLn.Addr().String(), "policy_revision", engine.Revision(), "tenants", len(specs))

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("listener failed: %w", err)
		case s := <-sigs:
			if s == syscall.SIGHUP {
				if err := engine.Reload(); err != nil {
					log.Error("policy reload failed; keeping the last good policy", "error", err.Error())
				} else {
					log.Info("policy reloaded", "policy_revision", engine.Revision())
				}
				continue
			}
			log.Info("shutting down: draining in-flight requests", "signal", s.String(), "grace", cfg.Shutdown.Grace.String())
			go func() { <-sigs; log.Error("second signal: exiting now"); os.Exit(1) }()
			sctx, scancel := context.WithTimeout(context.Background(), cfg.Shutdown.DrainDelay+cfg.Shutdown.Grace)
			err := p.Shutdown(sctx, cfg.Shutdown.DrainDelay)
			_ = adminSrv.Shutdown(sctx)
			scancel()
			if err != nil {
				log.Error("shutdown did not finish in time", "error", err.Error())
			}
			log.Info("stopped")
			return nil
		}
	}
}
