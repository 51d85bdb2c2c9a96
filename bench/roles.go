package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/consentry/consentry/bench/internal/naive"
	"github.com/consentry/consentry/bench/internal/passthrough"
	"github.com/consentry/consentry/bench/internal/proc"
	"github.com/consentry/consentry/bench/internal/sink"
	"github.com/consentry/consentry/rules"
	"github.com/valyala/fasthttp"
)

// roleEnv selects a helper role when the harness re-executes itself.
const roleEnv = "BENCH_ROLE"

// Helper roles.
const (
	roleSink        = "sink"
	rolePassthrough = "passthrough"
	roleNaive       = "naive"
)

// roleFromArgs recognises `-role NAME` / `-role=NAME` as the first argument
// and returns the role and its remaining arguments.
func roleFromArgs(args []string) (role string, rest []string, ok bool) {
	if len(args) == 0 || !strings.HasPrefix(args[0], "-") {
		return "", nil, false
	}
	a := strings.TrimPrefix(args[0], "-")
	if a == "-role" || a == "role" {
		if len(args) < 2 {
			return "", nil, false
		}
		return args[1], args[2:], true
	}
	if v, found := strings.CutPrefix(strings.TrimPrefix(a, "-"), "role="); found {
		return v, args[1:], true
	}
	return "", nil, false
}

// runRole runs one helper until SIGTERM or SIGINT and returns the exit
// code. It announces its address on stdout with proc.ReadyPrefix.
func runRole(role string, args []string) int {
	fs := flag.NewFlagSet("bench -role "+role, flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (127.0.0.1 only)")
	upstream := fs.String("upstream", "", "upstream address host:port (passthrough, naive)")
	tenant := fs.String("tenant", "default", "tenant given to the policy (naive)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if host, _, err := net.SplitHostPort(*listen); err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(os.Stderr, "bench %s: -listen %q: the harness only listens on 127.0.0.1\n", role, *listen)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp4", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: cannot listen: %v\n", role, err)
		return 1
	}
	switch role {
	case roleSink:
		err = serveFast(ctx, ln, sink.NewServer(&sink.Sink{}))
	case rolePassthrough:
		if *upstream == "" {
			err = errors.New("-upstream is required")
			break
		}
		err = serveFast(ctx, ln, passthrough.NewServer(passthrough.New(*upstream).Handle))
	case roleNaive:
		if *upstream == "" {
			err = errors.New("-upstream is required")
			break
		}
		var p *naive.Proxy
		if p, err = naive.New(ctx, "http://"+*upstream, rules.FS, naive.WithTenant(*tenant)); err == nil {
			err = serveHTTP(ctx, ln, p)
		}
	default:
		err = fmt.Errorf("unknown role %q (want sink, passthrough or naive)", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", role, err)
		return 1
	}
	return 0
}

func announce(ln net.Listener) {
	fmt.Printf("%s%s\n", proc.ReadyPrefix, ln.Addr())
}

func serveFast(ctx context.Context, ln net.Listener, s *fasthttp.Server) error {
	return serveUntil(ctx, ln, func() error { return s.Serve(ln) }, s.ShutdownWithContext)
}

// serveUntil runs serve, announces the listener, and shuts down when ctx ends.
func serveUntil(ctx context.Context, ln net.Listener, serve func() error, shutdown func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	announce(ln)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = shutdown(sctx)
	return nil
}

func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	s := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    passthrough.ReadBufferSize,
	}
	return serveUntil(ctx, ln, func() error { return s.Serve(ln) }, s.Shutdown)
}
