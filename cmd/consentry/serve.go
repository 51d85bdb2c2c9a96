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
	"strings"
	"syscall"
	"time"

	"github.com/consentry/consentry/audit"
	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/explain"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/proxy"
)

type serveFlags struct {
	config, listen, admin, upstream, policy, data, tlsCert, tlsKey, audit, formats string
}

func cmdServe(args []string, stdout, stderr io.Writer) int {
	fl, f := serveFlagSet(stderr)
	if err := fl.Parse(args); err != nil {
		return flagExit(err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	if err := serve(*f, stdout, log); err != nil {
		fmt.Fprintf(stderr, "consentry serve: %v\n", err)
		return 1
	}
	return 0
}

// serveFlagSet defines serve's flags.
func serveFlagSet(stderr io.Writer) (*flag.FlagSet, *serveFlags) {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	f := &serveFlags{}
	fl.StringVar(&f.config, "config", "", "YAML config file (optional with --upstream)")
	fl.StringVar(&f.listen, "listen", "", "proxy listen address (default "+config.DefaultListen+")")
	fl.StringVar(&f.admin, "admin", "", "admin listen address for /livez, /readyz, /metrics (default "+config.DefaultAdmin+")")
	fl.StringVar(&f.upstream, "upstream", "", "upstream base URL; without --config, runs single-tenant")
	fl.StringVar(&f.policy, "policy", "", "Rego policy directory (default: the embedded rules/)")
	fl.StringVar(&f.data, "data", "", "data directory for generated keys and state (default "+config.DefaultDataDir+")")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file (with --tls-key)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "TLS key file (with --tls-cert)")
	fl.StringVar(&f.audit, "audit", "", `audit output: "stdout", "off" or a file path`)
	fl.StringVar(&f.formats, "formats", "", `single-tenant mode: formats to accept, comma-separated, or "all" (default: those the upstream's vendor serves; CleverTap's for an unknown host)`)
	return fl, f
}

func loadServeConfig(f serveFlags) (*config.Config, error) {
	var cfg *config.Config
	switch {
	case f.config != "":
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
		switch {
		case f.upstream != "" && len(cfg.Tenants) == 0: // a file for the other settings, one tenant
			if err := singleTenant(cfg, f.upstream, f.formats); err != nil {
				return nil, fmt.Errorf("invalid configuration:\n%w", err)
			}
		case f.formats != "":
			return nil, errors.New("--formats applies to single-tenant mode only (--upstream without tenants); set tenants.<name>.formats in the config")
		case f.upstream != "": // flags override the file: every tenant's default upstream
			for name, t := range cfg.Tenants {
				t.Upstream = f.upstream
				cfg.Tenants[name] = t
			}
		}
	case f.upstream != "":
		cfg = config.Default()
		if err := singleTenant(cfg, f.upstream, f.formats); err != nil {
			return nil, fmt.Errorf("invalid configuration:\n%w", err)
		}
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
	err := cfg.Validate()
	if ferr := checkFormats(cfg); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// checkFormats refuses format names the proxy does not serve, in upstreams
// and formats: a typo would send traffic to the default upstream.
func checkFormats(cfg *config.Config) error {
	known := map[string]bool{}
	for _, r := range allRoutes() {
		known[r.Format] = true
	}
	list := explain.Formats(allRoutes())
	var errs []error
	for name, t := range cfg.Tenants {
		for f := range t.Upstreams {
			if !known[f] {
				errs = append(errs, fmt.Errorf("tenants.%s.upstreams.%s: unknown format (known: %s)", name, f, strings.Join(list, ", ")))
			}
		}
		for _, f := range t.Formats {
			if !known[f] {
				errs = append(errs, fmt.Errorf("tenants.%s.formats: unknown format %q (known: %s)", name, f, strings.Join(list, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}

// server is a built, not yet started, Consentry: proxy, admin listener,
// policy engine and audit log.
type server struct {
	cfg      *config.Config
	engine   *policy.Engine
	registry *registry
	bundle   *policy.BundleSource // policy.bundle; nil otherwise
	proxy    *proxy.Proxy
	admin    *http.Server
	ln       net.Listener
	adminLn  net.Listener
	auditLog *audit.Logger
	rights   *proxy.RightsAdapter
	closers  []closer
	log      *slog.Logger
}

func newServer(cfg *config.Config, auditOut io.Writer, log *slog.Logger) (_ *server, err error) {
	s := &server{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	proxy.Version, proxy.Revision = version, revision
	if cfg.Policy.Bundle != nil {
		if s.bundle, err = newBundleSource(cfg.Policy.Bundle); err != nil {
			return nil, err
		}
	}
	if s.engine, err = newPolicy(cfg.Policy.Dir, cfg, log, s.bundle); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, closer{"policy engine", s.engine.Close})
	if s.bundle != nil {
		s.closers = append(s.closers, closer{"policy bundle poller", s.bundle.Stop}) // runs before engine.Close
	}

	names := make([]string, 0, len(cfg.Tenants))
	for name := range cfg.Tenants {
		names = append(names, name)
	}
	sort.Strings(names)
	if !cfg.Rights.Disabled {
		// First: a fleet instance with the wrong keys must not write
		// generated key files or pseudonyms before it is refused.
		if s.registry, err = openRegistry(cfg, log); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, closer{"rights registry", s.registry.close})
	}
	// One cache of keyed-transform results for every tenant (entries are
	// kept apart by the tenant's Transformer), within limits.transform_cache_bytes.
	memo, err := masking.NewMemo(cfg.Limits.TransformCacheBytes)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, closer{"transform cache", memo.Close})
	var specs []proxy.TenantSpec
	tenantKeys := map[string]*config.TenantKeys{}
	for _, name := range names {
		t := cfg.Tenants[name]
		var keys *config.TenantKeys
		if cfg.Rights.Postgres != nil {
			keys, err = config.LoadKeys(cfg.DataDir, name, t.Keys)
		} else {
			keys, err = config.ResolveKeys(cfg.DataDir, name, t.Keys)
		}
		if err != nil {
			if cfg.Rights.Postgres != nil {
				return nil, fmt.Errorf("tenants.%s.keys: a shared rights registry (rights.postgres) needs the tenant's hmac and token keys in config, the same on every instance: %w", name, err)
			}
			return nil, err
		}
		tenantKeys[name] = keys
		applier, err := newApplier(keys, masking.WithMemo(memo))
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w", name, err)
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
		specs = append(specs, proxy.TenantSpec{Name: name, Accounts: accounts, Applier: applier, Upstreams: ups, Formats: t.Formats, HonorGPC: t.Rights.HonorGPC})
		if keys.Generated {
			log.Info("tenant keys kept in the data directory; back them up: losing them changes every pseudonym", "tenant", name, "path", keys.Path)
		}
	}
	if err := config.CheckTokenKeys(tenantKeys); err != nil {
		return nil, err
	}
	if cfg.SingleTenant {
		formats := "all"
		if f := cfg.Tenants[config.DefaultTenantName].Formats; len(f) > 0 {
			formats = strings.Join(f, ",")
		}
		log.Info("single-tenant mode: every account id is served by the default tenant; other formats are refused (--formats)", "tenant", config.DefaultTenantName, "upstream", cfg.Tenants[config.DefaultTenantName].Upstream, "formats", formats, "data_dir", cfg.DataDir)
	}

	switch cfg.Audit.Output {
	case "off":
		auditOut = nil
	case "stdout":
	default:
		file, err := os.OpenFile(cfg.Audit.Output, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit.output: %w", err)
		}
		s.closers = append(s.closers, closer{"audit file", func() { file.Close() }})
		auditOut = file
	}
	s.auditLog = audit.New(auditOut)
	s.closers = append(s.closers, closer{"audit log", func() {
		if err := s.auditLog.Close(); err != nil {
			log.Error("audit log incomplete", "error", err.Error())
		}
	}})

	statSrcs := []any{policyStats{s.engine}, s.auditLog}
	var checks []proxy.Check
	if auditOut != nil && cfg.Audit.FailsReadiness() {
		checks = append(checks, s.auditLog.Healthy)
	}
	if s.bundle != nil {
		statSrcs = append(statSrcs, bundleStats{s.bundle})
		checks = append(checks, bundleReady(s.bundle))
	}
	metrics := proxy.NewMetrics(statSrcs...)
	opts := []proxy.Option{proxy.WithAudit(s.auditLog), proxy.WithLogger(log), proxy.WithMetrics(metrics)}
	if !cfg.Rights.Disabled {
		for _, name := range names {
			if err := s.registry.bindTenantKeys(name, tenantKeys[name]); err != nil {
				return nil, err
			}
		}
		reg := s.registry.reg
		tenantOpts := map[string]proxy.RightsOptions{}
		for name, t := range cfg.Tenants {
			pass, err := t.Rights.CleverTapPasscodeSecret().Resolve()
			if err != nil {
				return nil, fmt.Errorf("tenants.%s.rights.clevertap_passcode (or vendors.clevertap.token): %w", name, err)
			}
			access, err := t.Rights.ResolveAccessToken(name)
			if err != nil {
				return nil, err
			}
			account := t.Rights.CleverTapAccountID
			if v, ok := t.Rights.Vendors["clevertap"]; ok {
				account = v.Account
			}
			tenantOpts[name] = proxy.RightsOptions{
				AllowSystemEvents:      t.Rights.AllowSystemEvents,
				MarketingOptInRequired: t.Rights.MarketingOptInRequired,
				Passcode:               pass,
				AccessToken:            access,
				AccountID:              account,
			}
		}
		s.rights = proxy.NewRightsAdapter(reg, tenantOpts)
		opts = append(opts, proxy.WithRights(s.rights))
		checks = append(checks, s.rights.Healthy)
		metrics.WatchRights(reg, s.registry.pg)
	}
	s.proxy, err = proxy.New(cfg, s.engine, specs, cfg.DefaultTenant, allRoutes(), opts...)
	if err != nil {
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("cannot listen on %s (listen / --listen): %w", cfg.Listen, err)
	}
	s.closers = append(s.closers, closer{"listener", func() { s.ln.Close() }})
	if s.adminLn, err = net.Listen("tcp", cfg.Admin); err != nil {
		return nil, fmt.Errorf("cannot listen on %s (admin / --admin): %w", cfg.Admin, err)
	}
	s.closers = append(s.closers, closer{"admin listener", func() { s.adminLn.Close() }})
	mux := proxy.AdminMux(s.proxy, checks...)
	if err := mountRightsAPI(mux, s.proxy, cfg); err != nil {
		return nil, err
	}
	s.admin = proxy.NewAdminServer(mux)
	return s, nil
}

// close releases everything in reverse order of acquisition.
// closer releases one part of the server; name says which in the log.
type closer struct {
	name string
	fn   func()
}

// slowClose is how long releasing a part may take before it is logged as
// slow: a stop that hangs then says where.
const slowClose = time.Second

// close releases the parts in reverse order of their creation.
func (s *server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		c := s.closers[i]
		t0 := time.Now()
		c.fn()
		if d := time.Since(t0); d > slowClose {
			s.log.Warn("slow to close", "part", c.name, "took", d.Round(time.Millisecond).String())
		}
	}
	s.closers = nil
}

func (s *server) url() string {
	scheme := "http"
	if s.cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// start serves both listeners; the channel reports a listener failure.
func (s *server) start(ctx context.Context) <-chan error {
	errc := make(chan error, 2)
	if s.cfg.Policy.Dir != "" && (s.cfg.Policy.Watch == nil || *s.cfg.Policy.Watch) {
		go s.engine.Watch(ctx)
	}
	if s.bundle != nil {
		// Start unready: /readyz answers 503 and traffic 503
		// policy_unavailable until the first bundle is verified and active.
		s.log.Info("waiting for the first policy bundle", "max_delay", s.cfg.Policy.Bundle.Polling.MaxDelay.String())
		s.bundle.Start(ctx)
	}
	s.proxy.StartWatchdog(ctx)
	go func() {
		if err := s.proxy.Serve(s.ln); err != nil {
			errc <- err
		}
	}()
	go func() {
		if err := s.admin.Serve(s.adminLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	s.log.Info("consentry serving", "version", version, "listen", s.url(), "admin", "http://"+s.adminLn.Addr().String(), "policy_revision", s.engine.Revision())
	return errc
}

// shutdown fails readiness for the drain delay (skipped when drain is
// false), then drains in-flight requests and releases everything.
func (s *server) shutdown(drain bool) {
	delay := max(s.cfg.Shutdown.DrainDelay, 0)
	if !drain {
		delay = 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), delay+s.cfg.Shutdown.Grace)
	defer cancel()
	t0 := time.Now()
	if err := s.proxy.Shutdown(ctx, delay); err != nil {
		s.log.Error("in-flight requests did not finish within shutdown.grace; closing their connections", "error", err.Error(), "open_connections", s.proxy.OpenConnections())
	}
	if err := s.admin.Shutdown(ctx); err != nil {
		s.log.Error("admin requests did not finish within shutdown.grace", "error", err.Error())
	}
	s.log.Info("listeners stopped", "took", time.Since(t0).Round(time.Millisecond).String())
	s.close()
}

func serve(f serveFlags, stdout io.Writer, log *slog.Logger) error {
	cfg, err := loadServeConfig(f)
	if err != nil {
		return err
	}
	s, err := newServer(cfg, stdout, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	errc := s.start(ctx)
	for {
		select {
		case err := <-errc:
			s.close()
			return fmt.Errorf("listener failed: %w", err)
		case sig := <-sigs:
			if sig == syscall.SIGHUP && s.bundle != nil {
				s.bundle.Trigger() // the source logs and counts the outcome
				log.Info("policy bundle poll triggered")
				continue
			}
			if sig == syscall.SIGHUP {
				if err := s.engine.Reload(); err == nil { // the engine logs failures itself
					log.Info("policy reloaded", "policy_revision", s.engine.Revision())
				}
				continue
			}
			// SIGTERM (Kubernetes, docker stop, systemd) fails /readyz for
			// drain_delay first, so that endpoints and load balancers move
			// away; SIGINT (Ctrl-C) skips that wait: nothing routes to an
			// interactive process by its readiness.
			drain := sig != syscall.SIGINT
			delay := time.Duration(0)
			if drain {
				delay = max(cfg.Shutdown.DrainDelay, 0)
			}
			log.Info("shutting down: draining in-flight requests", "signal", sig.String(), "drain_delay", delay.String(), "grace", cfg.Shutdown.Grace.String())
			go func() { <-sigs; log.Error("second signal: exiting now"); os.Exit(1) }()
			s.shutdown(drain)
			log.Info("stopped")
			return nil
		}
	}
}
