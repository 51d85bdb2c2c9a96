package formats

import (
	"github.com/consentry/consentry/formats/urlclean"
	"github.com/consentry/consentry/masking"
)

// urlApplier is the Applier of the records the adapters clean: env.Applier,
// except that a field decided with scan and the param "url": true (the
// default policy's decision for class web.url: page URLs, referrers,
// pathnames) is cleaned by package urlclean. Its path, query parameters
// and fragment become the fields of a record of kind "url", named after
// the field's path, that the policy decides part by part; the URL is then
// written back with every part that survives exactly as it was encoded.
type urlApplier struct {
	env    *Env
	inner  masking.FieldApplier // env.Applier
	format string
}

// applier is the Applier for a record of format: env.Applier wrapped for
// URL cleaning when it reports its findings (masking.FieldApplier), as the
// masking.Transformer does; any other Applier (test doubles) is used as it
// is, and a URL decision then scans the URL whole.
func (env *Env) applier(format string) masking.Applier {
	if env.urls.env == env && env.urls.format == format && env.urls.inner == env.Applier {
		return &env.urls
	}
	inner, ok := env.Applier.(masking.FieldApplier)
	if !ok {
		return env.Applier
	}
	env.urls = urlApplier{env: env, inner: inner, format: format}
	return &env.urls
}

// QuickScan implements masking.QuickScanner: a scan without "url" is the
// inner Applier's.
func (a *urlApplier) QuickScan() bool {
	qs, ok := a.inner.(masking.QuickScanner)
	return ok && qs.QuickScan()
}

// Apply implements masking.Applier.
func (a *urlApplier) Apply(dst []byte, d *masking.Decision, raw []byte, typ masking.ValueType) ([]byte, bool, int, error) {
	f := masking.Field{Stats: a.env.Stats}
	out, drop, err := a.ApplyField(dst, d, raw, typ, &f)
	return out, drop, len(f.Found), err
}

// ApplyField implements masking.FieldApplier.
func (a *urlApplier) ApplyField(dst []byte, d *masking.Decision, raw []byte, typ masking.ValueType, f *masking.Field) ([]byte, bool, error) {
	inner := a.inner
	if d.Action != masking.ActionScan || d.Params == nil || !d.Params.URL || typ != masking.TypeString || f.Stats == nil {
		return inner.ApplyField(dst, d, raw, typ, f)
	}
	c := urlclean.Get()
	defer c.Release()
	rw := masking.AcquireRewriter()
	defer masking.ReleaseRewriter(rw)
	if a.env.Rewriter != nil {
		// The URL's record obeys the operator's limits like the payload's.
		rw.SetLimits(a.env.Rewriter.Limits())
	}
	var err error
	c.Raw, err = masking.AppendUnquote(c.Raw[:0], raw)
	if err != nil {
		return dst, true, err
	}
	rec := &c.Rec
	*rec = masking.Record{
		Tenant:      a.env.Tenant,
		Format:      a.format,
		Kind:        urlclean.Kind,
		Name:        f.Path,
		Classifier:  urlclean.Classifier{},
		Planner:     a.env.Planner,
		Transformer: inner,
	}
	if on := a.env.OnRecord; on != nil {
		name := f.Path
		rec.OnPlan = func(p *masking.Plan) { on(urlclean.Kind, name, p) }
	}
	c.Clean, err = c.Append(c.Clean[:0], c.Raw, rw, rec, f.Stats)
	if err != nil {
		return dst, true, err
	}
	if string(c.Clean) == string(c.Raw) {
		return append(dst, raw...), false, nil
	}
	return masking.AppendQuote(dst, c.Clean), false, nil
}
