package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/consentry/consentry/rules"
)

const (
	decisionQuery = "data.consentry.decision"
	recordQuery   = "data.consentry.record_decision"
	dataFile      = "data.json"
)

// sources are the inputs of one policy revision.
type sources struct {
	names    []string          // display names (file paths), sorted
	files    map[string][]byte // display name → Rego source
	data     map[string]any    // merged data document, JSON-normalized
	digest   string            // of names, files and data
	revision string            // shown; the digest unless a bundle names one
	layered  bool              // the built-in modules were added (layer)
}

// readSources reads the Rego modules and data of o; withTests also keeps the
// *_test.rego files.
func readSources(o *options, withTests bool) (*sources, error) {
	fsys, prefix := o.fsys, ""
	if o.dir != "" {
		fsys, prefix = os.DirFS(o.dir), o.dir
	}
	if fsys == nil {
		fsys = rules.FS
	}
	src, err := readFS(fsys, prefix, withTests)
	if err != nil {
		return nil, err
	}
	if err := src.finish(o); err != nil {
		return nil, err
	}
	src.revision = src.digest
	return src, nil
}

// finish merges the WithData document over the files' data and computes
// the digest. Directory, FS and bundle sources all go through it.
func (src *sources) finish(o *options) error {
	if o.data != nil {
		extra, err := normalizeJSON(o.data)
		if err != nil {
			return fmt.Errorf("cannot use policy data from WithData: %w (use JSON-compatible maps, slices, strings, numbers and booleans)", err)
		}
		src.data = mergeData(src.data, extra)
	}
	if err := layer(src); err != nil {
		return err
	}
	src.digest = revisionOf(src)
	return nil
}

// builtinPrefix marks the shipped modules a layered policy is compiled with
// (file names in errors and coverage).
const builtinPrefix = "builtin:"

// layer adds the shipped modules (rules.FS, without tests) to src unless src
// is a complete policy: one that defines data.consentry.decision or
// data.consentry.record_decision replaces the shipped rules, any other adds
// to them (new classes, by_field, class_override, record_override, helper
// packages). Modules that do not parse are left to build, which names the
// file and line.
func layer(src *sources) error {
	if src.layered || definesEntrypoints(src) {
		return nil
	}
	base, err := readFS(rules.FS, "", false)
	if err != nil {
		return fmt.Errorf("cannot read the built-in policy: %w", err)
	}
	for _, n := range base.names {
		name := builtinPrefix + n
		src.files[name] = base.files[n]
		src.names = append(src.names, name)
	}
	slices.Sort(src.names)
	src.layered = true
	return nil
}

// definesEntrypoints reports whether a module of src defines decision or
// record_decision in package consentry.
func definesEntrypoints(src *sources) bool {
	pkg := ast.MustParseRef("data.consentry")
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1}
	for _, n := range src.names {
		m, err := ast.ParseModuleWithOpts(n, string(src.files[n]), popts)
		if err != nil || !m.Package.Path.Equal(pkg) {
			continue
		}
		for _, r := range m.Rules {
			if h := r.Head.Ref(); len(h) > 0 {
				if name, ok := h[0].Value.(ast.Var); ok && (name == "decision" || name == "record_decision") {
					return true
				}
			}
		}
	}
	return false
}

// Layered reports whether the loaded policy is a directory or bundle
// layered over the built-in rules (it defines neither decision nor
// record_decision).
func (e *Engine) Layered() bool {
	st := e.cur.Load()
	return st != nil && st.layered
}

func readFS(fsys fs.FS, prefix string, withTests bool) (*sources, error) {
	src := &sources{files: map[string][]byte{}, data: map[string]any{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := path.Base(p)
		if p != "." && strings.HasPrefix(base, ".") {
			// Hidden entries, including Kubernetes' ..data and ..<timestamp>
			// folders, whose files are also linked from the root.
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		name := p
		if prefix != "" {
			name = filepath.Join(prefix, filepath.FromSlash(p))
		}
		switch {
		case p == dataFile:
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			if err := decodeJSONObject(b, &src.data); err != nil {
				return fmt.Errorf("cannot parse %s: %w", name, err)
			}
		case strings.HasSuffix(base, ".rego"):
			if !withTests && strings.HasSuffix(base, "_test.rego") {
				return nil
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			src.files[name] = b
			src.names = append(src.names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read policy files: %w", err)
	}
	if len(src.names) == 0 {
		return nil, errors.New("cannot load policy: no .rego files found (check the rules directory)")
	}
	slices.Sort(src.names)
	return src, nil
}

func decodeJSONObject(b []byte, dst *map[string]any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	if m == nil {
		return errors.New("want a JSON object")
	}
	*dst = m
	return nil
}

// normalizeJSON round-trips v through JSON so that the store and TenantOption
// see only JSON types (float64 numbers, map[string]any, []any).
func normalizeJSON(v map[string]any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// mergeData merges src into dst: objects key by key, any other value of src
// replaces dst's.
func mergeData(dst, src map[string]any) map[string]any {
	for k, v := range src {
		dm, dok := dst[k].(map[string]any)
		sm, sok := v.(map[string]any)
		if dok && sok {
			dst[k] = mergeData(dm, sm)
			continue
		}
		dst[k] = v
	}
	return dst
}

func revisionOf(src *sources) string {
	h := sha256.New()
	for _, n := range src.names {
		fmt.Fprintf(h, "%d:%s%d:", len(n), n, len(src.files[n]))
		h.Write(src.files[n])
	}
	b, _ := json.Marshal(src.data) // sorted keys: deterministic; data is JSON-normalized
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// capabilities are OPA's built-ins without the non-deterministic ones
// (http.send, time.now_ns, rand.intn, ...): decisions are cached per
// revision, so a policy must answer the same for the same input.
func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(c.Builtins, func(b *ast.Builtin) bool { return b.Nondeterministic })
	return c
}

// explainCompileErrors rewrites OPA's "undefined function time.now_ns" for
// the non-deterministic built-ins capabilities() removes: they exist, and
// are refused on purpose.
func explainCompileErrors(errs ast.Errors) ast.Errors {
	for _, e := range errs {
		name, ok := strings.CutPrefix(e.Message, "undefined function ")
		if !ok {
			continue
		}
		if b, known := ast.BuiltinMap[name]; known && b.Nondeterministic {
			e.Message = fmt.Sprintf("built-in %s is not allowed: it is non-deterministic, and Consentry caches every decision per policy revision, so a rule must answer the same for the same input", name)
		}
	}
	return errs
}

// parseModules parses every module of src as Rego v1. Errors name file:line.
func parseModules(src *sources) (map[string]*ast.Module, error) {
	mods := make(map[string]*ast.Module, len(src.names))
	var errs ast.Errors
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	for _, n := range src.names {
		m, err := ast.ParseModuleWithOpts(n, string(src.files[n]), popts)
		if err != nil {
			var ae ast.Errors
			if errors.As(err, &ae) {
				errs = append(errs, ae...)
				continue
			}
			return nil, fmt.Errorf("cannot parse %s: %w", n, err)
		}
		mods[n] = m
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("cannot parse policy: %w", errs)
	}
	return mods, nil
}

// newCompiler returns a strict Rego v1 compiler without non-deterministic
// built-ins.
func newCompiler() *ast.Compiler {
	return ast.NewCompiler().
		WithStrict(true).
		WithCapabilities(capabilities()).
		WithDefaultRegoVersion(ast.RegoV1)
}

// build compiles src into a ready state with empty caches; validate checks
// every decision the policy can produce (validatePolicy).
func build(src *sources, cacheSize int64, validate bool) (*state, error) {
	mods, err := parseModules(src)
	if err != nil {
		return nil, err
	}
	c := newCompiler()
	if c.Compile(mods); c.Failed() {
		return nil, fmt.Errorf("cannot compile policy: %w", explainCompileErrors(c.Errors))
	}
	for _, q := range []string{decisionQuery, recordQuery} {
		if len(c.GetRulesExact(ast.MustParseRef(q))) == 0 {
			return nil, fmt.Errorf("it defines no %s (write a rule %q in package consentry)", q, strings.TrimPrefix(q, "data.consentry."))
		}
	}
	if err := validateTenants(src.data); err != nil {
		return nil, fmt.Errorf("cannot load policy data: %w", err)
	}
	store := inmem.NewFromObjectWithOpts(src.data, inmem.OptReturnASTValuesOnRead(true))
	ctx := context.Background()
	prepare := func(q string) (rego.PreparedEvalQuery, error) {
		pq, err := rego.New(
			rego.Query(q),
			rego.Compiler(c),
			rego.Store(store),
			rego.StoreReadAST(true),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx)
		if err != nil {
			return pq, fmt.Errorf("cannot prepare %s: %w", q, err)
		}
		return pq, nil
	}
	st := &state{revision: src.revision, digest: src.digest, data: src.data, layered: src.layered, nameInDecision: decisionReadsRecordName(c)}
	st.classes = classesOf(c)
	if st.decisionQ, err = prepare(decisionQuery); err != nil {
		return nil, err
	}
	if st.recordQ, err = prepare(recordQuery); err != nil {
		return nil, err
	}
	// Smoke test: both queries must evaluate without error on a neutral input.
	if _, err := st.evalDecision(ctx, "", "", "event", "", "", "", "", "string"); err != nil && !errors.Is(err, errUndefined) {
		return nil, fmt.Errorf("smoke evaluation of %s failed: %w", decisionQuery, err)
	}
	if _, err := st.evalRecord(ctx, "", "", "event", ""); err != nil && !errors.Is(err, errUndefined) {
		return nil, fmt.Errorf("smoke evaluation of %s failed: %w", recordQuery, err)
	}
	if validate {
		if err := validatePolicy(ctx, st, c, src.data); err != nil {
			return nil, err
		}
	}
	if err := st.newCaches(cacheSize); err != nil {
		return nil, err
	}
	return st, nil
}

// validateTenants checks data.tenants early, so that a typo in the YAML
// configuration fails the load instead of failing every request closed.
func validateTenants(data map[string]any) error {
	raw, ok := data["tenants"]
	if !ok {
		return nil
	}
	tenants, ok := raw.(map[string]any)
	if !ok {
		return errors.New("tenants must be an object keyed by tenant id")
	}
	var errs []error
	for _, id := range sortedKeys(tenants) {
		t, ok := tenants[id].(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("tenants.%s must be an object", id))
			continue
		}
		for _, group := range []string{"fields", "classes"} {
			g, ok := t[group]
			if !ok {
				continue
			}
			overrides, ok := g.(map[string]any)
			if !ok {
				errs = append(errs, fmt.Errorf("tenants.%s.%s must be an object of decisions", id, group))
				continue
			}
			for _, k := range sortedKeys(overrides) {
				if _, err := parseDecision(overrides[k], false, "tenant.override"); err != nil {
					errs = append(errs, fmt.Errorf("tenants.%s.%s[%q]: %w", id, group, k, err))
				}
			}
		}
		if de, ok := t["drop_events"]; ok {
			list, ok := de.([]any)
			for _, v := range list {
				if _, isStr := v.(string); !isStr {
					ok = false
				}
			}
			if !ok {
				errs = append(errs, fmt.Errorf("tenants.%s.drop_events must be a list of event names", id))
			}
		}
		if ci, ok := t["client_ip"]; ok && ci != "drop" && ci != "keep" {
			errs = append(errs, fmt.Errorf("tenants.%s.client_ip must be \"drop\" or \"keep\"", id))
		}
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// decisionReadsRecordName reports whether any rule other than record_decision
// may read the event name (input.record.name, input.record or input as a
// whole). When none does, field decisions do not depend on the name and plans
// are shared by every event name: apps that put ids in event names ("Viewed
// product 123") would otherwise cost Rego evaluations per new name.
func decisionReadsRecordName(c *ast.Compiler) bool {
	recordRule := ast.MustParseRef(recordQuery)
	input := ast.InputRootRef
	pkg := ast.MustParseRef("data.consentry")
	found := false
	for _, m := range c.Modules {
		for _, r := range m.Rules {
			if r.Path().Equal(recordRule) {
				continue
			}
			ast.WalkRefs(r, func(ref ast.Ref) bool {
				if ref.HasPrefix(pkg) {
					// A rule that reads record_decision, or the package as a
					// whole, may depend on the name through it.
					if len(ref) == 2 || !ref[2].IsGround() || ref[2].Equal(ast.StringTerm("record_decision")) {
						found = true
					}
					return found
				}
				if ref.HasPrefix(ast.DefaultRootRef) && len(ref) == 1 {
					found = true // data as a whole
					return true
				}
				if !ref.HasPrefix(input) {
					return false
				}
				// input, input.record, input.record.name, input[_] ...
				switch {
				case len(ref) == 1:
					found = true
				case !ref[1].IsGround():
					found = true
				case ref[1].Equal(ast.StringTerm("record")) && (len(ref) == 2 || !ref[2].IsGround() || ref[2].Equal(ast.StringTerm("name"))):
					found = true
				}
				return found
			})
			if found {
				return true
			}
		}
	}
	return false
}

// classesOf returns the classes the rules compare input.field.class with.
func classesOf(c *ast.Compiler) []string {
	all := map[string][]string{}
	for _, m := range c.Modules {
		constants(m, all)
	}
	var out []string
	for _, cl := range all[attrClass] {
		if cl != "" && !strings.HasPrefix(cl, ".") && !strings.HasSuffix(cl, ".") && !strings.ContainsAny(cl, " \t") {
			out = append(out, cl)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
