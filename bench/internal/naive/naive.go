// Package naive is the harness's "competent first version" contender: the
// same policy as Consentry, built the way a good engineer would ship it in a
// week with the standard tools.
//
//   - net/http server and net/http client (keep-alive pool);
//   - encoding/json decode of the whole body into interface values, and
//     re-encode after the walk;
//   - ONE prepared OPA query per record, not per field: input {tenant,
//     format, record {kind, name}, fields [{path, key, class, type}…]},
//     query data.naive (the record decision and every field's decision
//     from the same rules/ package Consentry evaluates);
//   - a decision cache keyed by the record's shape (format, kind, name and
//     the sorted field paths and types), so a shape seen before costs no
//     OPA call at all; bounded, cleared when full;
//   - the same transforms as Consentry for hash, tokenize (AES-SIV), mask,
//     generalize and redact, through the same library (masking.Transformer);
//     scan is two regular expressions (e-mail, phone) replacing findings
//     with "[REDACTED]" instead of Consentry's detectors.
//
// What it does not do, and Consentry does: the rights registry (opt-out,
// erasure, identity↔device links), audit, budgets, the vendor-specific
// classifier (a key table here). So it does less work per request than
// Consentry; the ratio between them is the price of the architecture, not
// of features. An unknown action, a policy error or a missing decision
// drops the field (fail closed).
package naive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentry/consentry/masking"
	"github.com/open-policy-agent/opa/v1/rego"
)

// MaxBodySize matches Consentry's default body limit.
const MaxBodySize = 4 << 20

// Query is the policy query the proxy asks once per record shape.
const Query = "data.naive"

// recordModule asks Consentry's rules for one record's decisions at once.
const recordModule = `package naive

import rego.v1

record := d if {
	d := data.consentry.record_decision with input as {"tenant": input.tenant, "format": input.format, "record": input.record}
}

fields := [d |
	some f in input.fields
	d := data.consentry.decision with input as {"tenant": input.tenant, "format": input.format, "record": input.record, "field": f}
]
`

// MaxShapes bounds the decision cache; it is cleared when full.
const MaxShapes = 1 << 16

// Proxy is the naive policy proxy. It implements http.Handler.
type Proxy struct {
	upstream string // "http://127.0.0.1:port"
	tenant   string
	keys     masking.Keys
	tr       *masking.Transformer
	client   *http.Client
	pq       rego.PreparedEvalQuery
	evals    atomic.Int64

	mu     sync.RWMutex
	shapes map[string]*shape
}

// shape is the cached decisions of one record shape.
type shape struct {
	drop   bool
	fields []decision // in the order of the record's sorted leaves
}

type decision struct {
	ok bool // false: no valid decision (fail closed: drop)
	d  masking.Decision
}

var _ http.Handler = (*Proxy)(nil)

// Option configures a Proxy.
type Option func(*Proxy)

// WithTenant sets the tenant given to the policy (default "default").
func WithTenant(t string) Option { return func(p *Proxy) { p.tenant = t } }

// WithKeys sets the keys of hash and tokenize.
func WithKeys(k masking.Keys) Option { return func(p *Proxy) { p.keys = k } }

// WithClient replaces the upstream HTTP client.
func WithClient(c *http.Client) Option { return func(p *Proxy) { p.client = c } }

// New prepares the policy in fsys (every *.rego file except *_test.rego)
// and returns a proxy that forwards to upstream ("http://127.0.0.1:8080").
func New(ctx context.Context, upstream string, fsys fs.FS, opts ...Option) (*Proxy, error) {
	p := &Proxy{
		upstream: strings.TrimRight(upstream, "/"),
		tenant:   "default",
		keys: masking.Keys{
			HMACKey:    bytes.Repeat([]byte("naive-hmac-key-1"), 2),
			TokenKey:   bytes.Repeat([]byte("naive-token-key1"), 4),
			TokenKeyID: "k1",
		},
		shapes: map[string]*shape{},
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
	var err error
	if p.tr, err = masking.NewTransformer(p.keys); err != nil {
		return nil, fmt.Errorf("cannot use the keys: %w", err)
	}
	mods, err := LoadModules(fsys)
	if err != nil {
		return nil, err
	}
	mods["naive/record.rego"] = recordModule
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

// Evals returns the number of OPA evaluations so far (one per record shape
// not in the cache).
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
	doc, err = p.document(r.Context(), format, doc)
	if err != nil {
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

// document applies the policy to every record of a decoded body and returns
// the body to forward.
func (p *Proxy) document(ctx context.Context, format string, doc any) (any, error) {
	var recs []any
	var up map[string]any
	switch format {
	case "clevertap.sdk":
		a, ok := doc.([]any)
		if !ok {
			return nil, errors.New("SDK body must be a JSON array")
		}
		recs = a
	default:
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, errors.New("upload body must be a JSON object")
		}
		if recs, ok = m["d"].([]any); !ok {
			return nil, errors.New("upload body must have a d array")
		}
		up = m
	}
	out := recs[:0]
	for _, rec := range recs {
		m, ok := rec.(map[string]any)
		if !ok {
			return nil, errors.New("every record must be a JSON object")
		}
		if p.record(ctx, format, m) {
			out = append(out, m)
		}
	}
	if up != nil {
		up["d"] = out
		return up, nil
	}
	return out, nil
}

// leaf is one scalar (or empty container) of a record and where it sits.
type leaf struct {
	path, key string
	typ       string
	obj       map[string]any // the leaf is obj[key], or
	arr       []any          // arr[idx]
	idx       int
}

// dropped marks an array element to remove after the walk.
type dropped struct{}

// record decides and transforms one record in place; false drops it.
func (p *Proxy) record(ctx context.Context, format string, m map[string]any) bool {
	kind, _ := m["type"].(string)
	name, _ := m["evtName"].(string)
	var leaves []leaf
	var arrays []arrayRef
	collect(m, "", &leaves, &arrays)
	var key strings.Builder
	key.WriteString(format + "\x00" + kind + "\x00" + name)
	for _, l := range leaves {
		key.WriteString("\x00" + l.path + "\x01" + l.typ)
	}
	sk := key.String()
	p.mu.RLock()
	sh := p.shapes[sk]
	p.mu.RUnlock()
	if sh == nil {
		sh = p.decide(ctx, format, kind, name, leaves)
		p.mu.Lock()
		if len(p.shapes) >= MaxShapes {
			clear(p.shapes)
		}
		p.shapes[sk] = sh
		p.mu.Unlock()
	}
	if sh.drop {
		return false
	}
	for i, l := range leaves {
		var v any
		if l.obj != nil {
			v = l.obj[l.key]
		} else {
			v = l.arr[l.idx]
		}
		nv, keep := p.apply(&sh.fields[i], v)
		switch {
		case keep && l.obj != nil:
			l.obj[l.key] = nv
		case keep:
			l.arr[l.idx] = nv
		case l.obj != nil:
			delete(l.obj, l.key)
		default:
			l.arr[l.idx] = dropped{}
		}
	}
	for _, a := range arrays {
		out := (*a.slot)[:0]
		for _, e := range *a.slot {
			if _, gone := e.(dropped); !gone {
				out = append(out, e)
			}
		}
		*a.slot = out
		a.obj[a.key] = out
	}
	return true
}

// arrayRef is an array that may lose elements.
type arrayRef struct {
	obj  map[string]any
	key  string
	slot *[]any
}

// collect lists the leaves of m in sorted key order, so that a shape has
// one order.
func collect(m map[string]any, prefix string, leaves *[]leaf, arrays *[]arrayRef) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		path := prefix + k
		switch x := m[k].(type) {
		case map[string]any:
			if len(x) > 0 {
				collect(x, path+".", leaves, arrays)
				continue
			}
		case []any:
			if len(x) > 0 {
				a := x
				*arrays = append(*arrays, arrayRef{obj: m, key: k, slot: &a})
				for i, e := range a {
					if o, ok := e.(map[string]any); ok {
						collect(o, path+"[].", leaves, arrays)
						continue
					}
					*leaves = append(*leaves, leaf{path: path + "[]", key: k, typ: jsonType(e), arr: a, idx: i})
				}
				continue
			}
		}
		*leaves = append(*leaves, leaf{path: path, key: k, typ: jsonType(m[k]), obj: m})
	}
}

// decide runs the one OPA query of a new shape.
func (p *Proxy) decide(ctx context.Context, format, kind, name string, leaves []leaf) *shape {
	fields := make([]any, len(leaves))
	for i, l := range leaves {
		fields[i] = map[string]any{"path": l.path, "key": l.key, "class": Classify(l.path, l.key), "type": l.typ}
	}
	input := map[string]any{
		"tenant": p.tenant,
		"format": format,
		"record": map[string]any{"kind": kind, "name": name},
		"fields": fields,
	}
	sh := &shape{fields: make([]decision, len(leaves))}
	p.evals.Add(1)
	rs, err := p.pq.Eval(ctx, rego.EvalInput(input))
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		sh.drop = true // fail closed
		return sh
	}
	out, _ := rs[0].Expressions[0].Value.(map[string]any)
	if rd, ok := out["record"].(map[string]any); !ok || rd["action"] != "keep" {
		sh.drop = true
		return sh
	}
	ds, _ := out["fields"].([]any)
	if len(ds) != len(leaves) {
		sh.drop = true
		return sh
	}
	for i, raw := range ds {
		sh.fields[i] = parseDecision(raw)
	}
	return sh
}

func parseDecision(raw any) decision {
	m, ok := raw.(map[string]any)
	if !ok {
		return decision{}
	}
	s, _ := m["action"].(string)
	a, err := masking.ParseAction(s)
	if err != nil {
		return decision{}
	}
	params, _ := m["params"].(map[string]any)
	pp, err := masking.ParseParams(a, params)
	if err != nil {
		return decision{}
	}
	return decision{ok: true, d: masking.Decision{Action: a, Params: pp}}
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

var valueTypes = map[string]masking.ValueType{
	"null": masking.TypeNull, "boolean": masking.TypeBool, "number": masking.TypeNumber,
	"string": masking.TypeString, "array": masking.TypeArray, "object": masking.TypeObject,
}

// apply runs one decision on a value; false means drop it.
func (p *Proxy) apply(d *decision, v any) (any, bool) {
	if !d.ok {
		return nil, false
	}
	switch d.d.Action {
	case masking.ActionKeep:
		return v, true
	case masking.ActionDrop:
		return nil, false
	case masking.ActionScan:
		return scan(v), true
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	out, drop, _, err := p.tr.Apply(nil, &d.d, raw, valueTypes[jsonType(v)])
	if err != nil || drop {
		return nil, false
	}
	return json.RawMessage(out), true
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
