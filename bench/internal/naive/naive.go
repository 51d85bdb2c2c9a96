// Package naive is the harness's "obvious design" contender: the same
// policy as Consentry, implemented the way one would on a first try.
//
//   - net/http server and net/http client;
//   - encoding/json decode of the whole body into interface values;
//   - a walk over every leaf, with ONE prepared OPA evaluation per field
//     (input {tenant, format, record, field}, query data.consentry.decision);
//   - the action applied in Go, encoding/json re-encode, forward.
//
// Actions are approximations, close enough for cost comparison but not
// byte-compatible with Consentry: hash is HMAC-SHA-256 hex (with hex_len and
// if_prefix); tokenize is an HMAC with a "tok_" prefix instead of
// AES-SIV; mask keeps keep_first/keep_last characters; generalize handles
// year/month of "$D_" dates, decimals and buckets of numbers, and IPv4
// prefixes; scan replaces emails and phone numbers found by two regular
// expressions with "[REDACTED]". An unknown action, a policy error or a
// missing decision drops the field (fail closed).
//
// The request body is decoded into fresh values per request; nothing is
// kept after the handler returns.
package naive

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
)

// MaxBodySize matches Consentry's default body limit.
const MaxBodySize = 4 << 20

// Query is the policy decision the proxy asks for each field.
const Query = "data.consentry.decision"

// Proxy is the naive policy proxy. It implements http.Handler.
type Proxy struct {
	upstream string // "http://127.0.0.1:port"
	tenant   string
	key      []byte
	client   *http.Client
	pq       rego.PreparedEvalQuery
	evals    atomic.Int64
}

var _ http.Handler = (*Proxy)(nil)

// Option configures a Proxy.
type Option func(*Proxy)

// WithTenant sets the tenant given to the policy (default "default").
func WithTenant(t string) Option { return func(p *Proxy) { p.tenant = t } }

// WithHashKey sets the HMAC key of hash and tokenize.
func WithHashKey(k []byte) Option { return func(p *Proxy) { p.key = k } }

// WithClient replaces the upstream HTTP client.
func WithClient(c *http.Client) Option { return func(p *Proxy) { p.client = c } }

// New prepares the policy in fsys (every *.rego file except *_test.rego)
// and returns a proxy that forwards to upstream ("http://127.0.0.1:8080").
func New(ctx context.Context, upstream string, fsys fs.FS, opts ...Option) (*Proxy, error) {
	p := &Proxy{
		upstream: strings.TrimRight(upstream, "/"),
		tenant:   "default",
		key:      []byte("bench-naive-hmac-key"),
		client: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				MaxIdleConns:        512,
				MaxIdleConnsPerHost: 512,
				IdleConnTimeout:     5 * time.Second,
			},
		},
	}
	for _, o := range opts {
		o(p)
	}
	mods, err := LoadModules(fsys)
	if err != nil {
		return nil, err
	}
	ropts := []func(*rego.Rego){rego.Query(Query)}
	for name, src := range mods {
		ropts = append(ropts, rego.Module(name, src))
	}
	p.pq, err = rego.New(ropts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot prepare policy: %w", err)
	}
	return p, nil
}

// ErrNoPolicy reports a policy file system without Rego modules.
var ErrNoPolicy = errors.New("no .rego files")

// LoadModules returns the Rego sources in fsys by path, without tests.
func LoadModules(fsys fs.FS) (map[string]string, error) {
	mods := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, "_test.rego") {
			return nil
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		mods[path] = string(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read policy: %w", err)
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("cannot load policy: %w", ErrNoPolicy)
	}
	return mods, nil
}

// Evals returns the number of OPA evaluations so far.
func (p *Proxy) Evals() int64 { return p.evals.Load() }

// hopByHop headers are not forwarded in either direction.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"status":"fail","error":%q,"code":%d}`, msg, code)
}

// ServeHTTP handles /a1 (SDK batches) and /1/upload (REST uploads).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var format string
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/a1":
		format = "clevertap.sdk"
	case r.Method == http.MethodPost && r.URL.Path == "/1/upload":
		format = "clevertap.rest"
	default:
		writeError(w, http.StatusNotFound, "no route")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot read body")
		return
	}
	if len(body) > MaxBodySize {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		writeError(w, http.StatusBadRequest, "body is not JSON")
		return
	}
	wk := walker{p: p, ctx: r.Context(), format: format}
	if err := wk.document(doc); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out, err := json.Marshal(doc)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot encode body")
		return
	}
	p.forward(w, r, out)
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusBadGateway, "cannot build upstream request")
		return
	}
	for k, vs := range r.Header {
		if !hopByHop[k] && k != "Content-Length" {
			req.Header[k] = vs
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		writeError(w, http.StatusBadGateway, "upstream unavailable")
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if !hopByHop[k] {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// walker applies the policy to one decoded document.
type walker struct {
	p          *Proxy
	ctx        context.Context
	format     string
	kind, name string
}

func (wk *walker) document(doc any) error {
	var recs []any
	switch wk.format {
	case "clevertap.sdk":
		a, ok := doc.([]any)
		if !ok {
			return errors.New("SDK body must be a JSON array")
		}
		recs = a
	default:
		m, ok := doc.(map[string]any)
		if !ok {
			return errors.New("upload body must be a JSON object")
		}
		if recs, ok = m["d"].([]any); !ok {
			return errors.New("upload body must have a d array")
		}
	}
	for _, rec := range recs {
		m, ok := rec.(map[string]any)
		if !ok {
			return errors.New("every record must be a JSON object")
		}
		wk.kind, _ = m["type"].(string)
		wk.name, _ = m["evtName"].(string)
		wk.object(m, "", m)
	}
	return nil
}

func (wk *walker) object(m map[string]any, prefix string, rec map[string]any) {
	for k, v := range m {
		path := prefix + k
		switch x := v.(type) {
		case map[string]any:
			if len(x) > 0 {
				wk.object(x, path+".", rec)
				continue
			}
		case []any:
			if len(x) > 0 {
				m[k] = wk.array(x, path+"[]", k, rec)
				continue
			}
		}
		if nv, keep := wk.leaf(path, k, v); keep {
			m[k] = nv
		} else {
			delete(m, k)
		}
	}
}

func (wk *walker) array(a []any, path, key string, rec map[string]any) []any {
	out := a[:0]
	for _, e := range a {
		switch x := e.(type) {
		case map[string]any:
			wk.object(x, path+".", rec)
			out = append(out, x)
			continue
		case []any:
			out = append(out, wk.array(x, path+"[]", key, rec))
			continue
		}
		if nv, keep := wk.leaf(path, key, e); keep {
			out = append(out, nv)
		}
	}
	return out
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// leaf asks the policy about one field and applies the decision.
func (wk *walker) leaf(path, key string, v any) (any, bool) {
	input := map[string]any{
		"tenant": wk.p.tenant,
		"format": wk.format,
		"record": map[string]any{"kind": wk.kind, "name": wk.name},
		"field": map[string]any{
			"path":  path,
			"key":   key,
			"class": Classify(path, key),
			"type":  jsonType(v),
		},
	}
	wk.p.evals.Add(1)
	rs, err := wk.p.pq.Eval(wk.ctx, rego.EvalInput(input))
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, false
	}
	d, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return nil, false
	}
	action, _ := d["action"].(string)
	params, _ := d["params"].(map[string]any)
	return apply(wk.p.key, action, params, v)
}

// apply runs one action on a value; false means drop the field.
func apply(key []byte, action string, params map[string]any, v any) (any, bool) {
	switch action {
	case "keep":
		return v, true
	case "redact":
		return redact(params, v), true
	case "hash":
		return hashValue(key, params, v), true
	case "tokenize":
		return "tok_" + hmacHex(key, scalarString(v), 32), true
	case "mask":
		return mask(params, v), true
	case "generalize":
		return generalize(params, v)
	case "scan":
		return scan(v), true
	default: // drop, unknown action, missing decision
		return nil, false
	}
}

func redact(params map[string]any, v any) any {
	switch v.(type) {
	case float64:
		return 0.0
	case bool:
		return false
	case nil:
		return nil
	}
	if s, ok := params["replacement"].(string); ok {
		return s
	}
	return "[REDACTED]"
}

func intParam(params map[string]any, name string, def int) int {
	switch x := params[name].(type) {
	case float64:
		return int(x)
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return int(n)
		}
	}
	return def
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func hmacHex(key []byte, s string, n int) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	h := hex.EncodeToString(m.Sum(nil))
	if n > 0 && n < len(h) {
		h = h[:n]
	}
	return h
}

func hashValue(key []byte, params map[string]any, v any) any {
	s := scalarString(v)
	n := intParam(params, "hex_len", 0)
	if pre, ok := params["if_prefix"].(map[string]any); ok {
		for from, to := range pre {
			if strings.HasPrefix(s, from) {
				to, _ := to.(string)
				return to + hmacHex(key, s, n)
			}
		}
		return v // if_prefix: values without a listed prefix are kept
	}
	return hmacHex(key, s, n)
}

func mask(params map[string]any, v any) any {
	s := []rune(scalarString(v))
	first, last := intParam(params, "keep_first", 0), intParam(params, "keep_last", 4)
	for i := range s {
		if i >= first && i < len(s)-last {
			s[i] = '*'
		}
	}
	return string(s)
}

func generalize(params map[string]any, v any) (any, bool) {
	to, _ := params["to"].(string)
	switch x := v.(type) {
	case string:
		if rest, ok := strings.CutPrefix(x, "$D_"); ok {
			sec, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				return nil, false
			}
			t := time.Unix(sec, 0).UTC()
			switch to {
			case "year":
				t = time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
			case "month":
				t = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
			default:
				return nil, false
			}
			return "$D_" + strconv.FormatInt(t.Unix(), 10), true
		}
		if to == "prefix" {
			if ip := net.ParseIP(x); ip != nil && ip.To4() != nil {
				bits := intParam(params, "ipv4_bits", 24)
				return ip.Mask(net.CIDRMask(bits, 32)).String(), true
			}
		}
		return nil, false
	case float64:
		switch to {
		case "decimals":
			p := math.Pow(10, float64(intParam(params, "decimals", 2)))
			return math.Round(x*p) / p, true
		case "bucket":
			size, _ := params["bucket_size"].(float64)
			if size <= 0 {
				return nil, false
			}
			return math.Floor(x/size) * size, true
		}
	}
	return nil, false
}

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	phoneRE = regexp.MustCompile(`\+?[0-9][0-9 ()-]{8,}[0-9]`)
)

// scan replaces emails and phone numbers inside strings, and drops numbers
// long enough to be phone numbers.
func scan(v any) any {
	switch x := v.(type) {
	case string:
		x = emailRE.ReplaceAllString(x, "[REDACTED]")
		return phoneRE.ReplaceAllString(x, "[REDACTED]")
	case float64:
		if math.Abs(x) >= 1e9 && x == math.Trunc(x) && phoneRE.MatchString(strconv.FormatFloat(x, 'f', -1, 64)) {
			return 0.0
		}
	}
	return v
}
