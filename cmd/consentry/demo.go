package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/formats/clevertap"
)

// cmdDemo runs the whole proxy on loopback with the embedded policy and a
// built-in capture upstream, sends the sample payloads through it over TCP
// and shows what the upstream received. No external service is involved.
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("demo", flag.ContinueOnError)
	fl.SetOutput(stderr)
	verbose := fl.Bool("v", false, "also print the cleaned payloads")
	if err := fl.Parse(args); err != nil {
		return flagExit(err)
	}
	if err := demo(stdout, *verbose); err != nil {
		fmt.Fprintf(stderr, "consentry demo: %v\n", err)
		return 1
	}
	return 0
}

type captureSink struct {
	mu   sync.Mutex
	last []byte
}

func (c *captureSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.last = b
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-WZRK-RD", "redirect.example") // stripped by Consentry
	if r.URL.Path == "/1/upload" {
		fmt.Fprintf(w, `{"status":"success","processed":%d,"unprocessed":[]}`, gjson.GetBytes(b, "d.#").Int())
		return
	}
	io.WriteString(w, "{}")
}

func demo(stdout io.Writer, verbose bool) error {
	sink := &captureSink{}
	sinkLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sinkSrv := &http.Server{Handler: sink, ReadHeaderTimeout: 5 * time.Second}
	go sinkSrv.Serve(sinkLn)
	defer sinkSrv.Close()

	dataDir, err := os.MkdirTemp("", "consentry-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	cfg := config.Default()
	cfg.SingleTenant = true
	cfg.Listen, cfg.Admin, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dataDir
	cfg.DefaultTenant = config.DefaultTenantName
	cfg.Tenants = map[string]config.Tenant{config.DefaultTenantName: {Upstream: "http://" + sinkLn.Addr().String()}}
	var audit bytes.Buffer
	s, err := newServer(cfg, &syncWriter{w: &audit}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.start(ctx)
	defer s.shutdown(false)

	fmt.Fprintf(stdout, "Consentry %s on %s → capture upstream %s (embedded GDPR policy %s)\n\n", version, s.url(), sinkLn.Addr(), s.engine.Revision())
	samples := []struct{ file, path, title string }{
		{"android_batch.json", "/a1?os=Android&t=70200&z=TEST-RK4-654-R75Z", "Android SDK batch  POST /a1"},
		{"ios_batch.json", "/a1?os=iOS&t=70700&z=TEST-RK4-654-R75Z", "iOS SDK batch  POST /a1"},
		{"rest_upload.json", "/1/upload", "REST upload  POST /1/upload"},
	}
	for _, smp := range samples {
		in, err := clevertap.Samples.ReadFile("samples/" + smp.file)
		if err != nil {
			return err
		}
		req, _ := http.NewRequest("POST", s.url()+smp.path, bytes.NewReader(in))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("X-CleverTap-Account-Id", "TEST-RK4-654-R75Z")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sink.mu.Lock()
		out := sink.last
		sink.mu.Unlock()
		fmt.Fprintf(stdout, "== %s: client got %d %s (redirect header stripped: %v)\n", smp.title, resp.StatusCode, reply, resp.Header.Get("X-WZRK-RD") == "")
		printDiff(stdout, in, out)
		if verbose {
			var pretty bytes.Buffer
			_ = jsonIndent(&pretty, out)
			fmt.Fprintf(stdout, "\nwhat the upstream received:\n%s\n", pretty.String())
		}
		fmt.Fprintln(stdout)
	}
	time.Sleep(1100 * time.Millisecond) // one audit flush
	fmt.Fprintf(stdout, "audit records (counts, classes, rules; never values):\n%s", audit.String())
	return nil
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// printDiff lists every leaf that changed or disappeared.
func printDiff(w io.Writer, in, out []byte) {
	a, b := leaves(in), leaves(out)
	paths := make([]string, 0, len(a))
	for p := range a {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool { return naturalLess(paths[i], paths[j]) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FIELD\tSENT BY THE APP\tFORWARDED")
	kept := 0
	for _, p := range paths {
		after, ok := b[p]
		switch {
		case !ok:
			fmt.Fprintf(tw, "  %s\t%s\t(dropped)\n", p, clip(a[p]))
		case after != a[p]:
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", p, clip(a[p]), clip(after))
		default:
			kept++
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "  (%d more fields forwarded unchanged)\n", kept)
}

func leaves(doc []byte) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, r gjson.Result)
	walk = func(prefix string, r gjson.Result) {
		if !r.IsObject() && !r.IsArray() {
			out[prefix] = r.Raw
			return
		}
		i := 0
		r.ForEach(func(k, v gjson.Result) bool {
			name := k.String()
			if r.IsArray() {
				name = fmt.Sprint(i)
				i++
			}
			if prefix != "" {
				name = prefix + "." + name
			}
			walk(name, v)
			return true
		})
	}
	walk("", gjson.ParseBytes(doc))
	return out
}

func naturalLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] != bs[i] {
			var x, y int
			if _, err := fmt.Sscan(as[i], &x); err == nil {
				if _, err := fmt.Sscan(bs[i], &y); err == nil {
					return x < y
				}
			}
			return as[i] < bs[i]
		}
	}
	return len(as) < len(bs)
}

func clip(s string) string {
	if len(s) > 48 {
		return s[:45] + "..."
	}
	return s
}
