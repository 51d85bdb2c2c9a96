package formats

import (
	"strings"

	"github.com/consentry/consentry/masking"
)

// IDCarrier is one record shape in which a vendor's traffic carries a
// person's identifier (Segment's identify "userId", Mixpanel's event
// "properties.distinct_id", ...). A data-subject request to that vendor
// must name the person as the vendor holds them: the identifier rewritten
// by the tenant's policy exactly as in that record.
type IDCarrier struct {
	Format string // policy input.format
	Kind   string // record kind, as the adapter names it
	Name   string // event name, if the kind has one
	// Prefix and Suffix enclose the identifier's JSON token to form the
	// record: Prefix + `"user-42"` + Suffix.
	Prefix, Suffix string
	// Path is the identifier's path in the record, as plans name fields
	// ("userId", "properties.distinct_id").
	Path       string
	Classifier masking.Classifier
	// Header says the record is a batch header (CleverTap's SDK meta
	// element): cleaned by the policy but never dropped by record_decision.
	Header bool
}

// TranslateID appends the JSON token raw (a string or a number), rewritten
// by env's policy as it is rewritten in a record of carrier c, to dst. ok
// is false when the vendor never received the person under it: the record
// kind is dropped by record_decision, or the policy removes the identifier
// or replaces it with a value that is not unique to the person (redact,
// mask, generalize, a scan that found something).
func (env *Env) TranslateID(dst []byte, c *IDCarrier, raw []byte) ([]byte, bool, error) {
	rw := env.Rewriter
	rec := make([]byte, 0, len(c.Prefix)+len(raw)+len(c.Suffix))
	rec = append(append(append(rec, c.Prefix...), raw...), c.Suffix...)
	if _, err := rw.Parse(rec, 0); err != nil {
		return dst, false, err
	}
	if err := CheckNumbers(rec); err != nil {
		return dst, false, err
	}
	if env.Records != nil && !c.Header {
		d := env.Records.RecordDecision(env.Tenant, c.Format, c.Kind, c.Name)
		if d.Rule == masking.FailClosedRule {
			return dst, false, Errorf(503, "policy_error", "the policy could not decide on a %s %s record; retry later", c.Format, c.Kind)
		}
		if d.Action != masking.ActionKeep {
			return dst, false, nil
		}
	}
	st := env.Stats
	if st == nil {
		st = &masking.Stats{}
	}
	findings := st.Findings
	var decision masking.Action
	decided := false
	mrec := masking.Record{
		Tenant: env.Tenant, Format: c.Format, Kind: c.Kind, Name: c.Name,
		Classifier: c.Classifier, Planner: env.Planner, Transformer: env.applier(c.Format),
		OnPlan: func(p *masking.Plan) {
			for i, path := range p.Paths {
				if path == c.Path && i < len(p.Decisions) {
					decision, decided = p.Decisions[i].Action, true
				}
			}
		},
	}
	out := rw.Emit(nil, &mrec, st)
	if !decided {
		return dst, false, nil
	}
	if !Translates(decision, st.Findings != findings) {
		return dst, false, nil
	}
	if _, err := rw.Parse(out, 0); err != nil {
		return dst, false, err
	}
	n := int32(0)
	for key := range strings.SplitSeq(c.Path, ".") {
		if n = rw.Lookup(n, key); n < 0 {
			return dst, false, nil
		}
	}
	if typ := rw.Type(n); typ != masking.TypeString && typ != masking.TypeNumber {
		return dst, false, nil
	}
	return append(dst, rw.Raw(n)...), true, nil
}

// TranslateIDs appends to dst every distinct translation of the identifier
// id (plain text) through carriers: all the values under which the vendor
// may hold the person. None means the vendor never received them. An id
// that is a JSON number literal ("42") is translated both as the string and
// as the number, since SDKs send either and a policy seals each as written.
func (env *Env) TranslateIDs(dst [][]byte, carriers []IDCarrier, id []byte) ([][]byte, error) {
	first := len(dst)
	for _, raw := range IDTokens(id) {
		for i := range carriers {
			v, ok, err := env.TranslateID(nil, &carriers[i], raw)
			if err != nil {
				if raw[0] != '"' && AsError(err).Code == "invalid_number" {
					break // no record could carry this number: the proxy refuses it
				}
				return dst, err
			}
			if ok {
				dst = AppendDistinct(dst, first, v)
			}
		}
	}
	return dst, nil
}

// IDTokens returns the JSON tokens under which traffic may carry the plain
// identifier id: the string, and the number too when id is a JSON number
// literal.
func IDTokens(id []byte) [][]byte {
	toks := [][]byte{masking.AppendQuote(nil, id)}
	if IsJSONNumber(id) {
		toks = append(toks, id)
	}
	return toks
}

// AppendDistinct appends v to dst unless dst[first:] holds it already.
func AppendDistinct(dst [][]byte, first int, v []byte) [][]byte {
	for _, have := range dst[first:] {
		if string(have) == string(v) {
			return dst
		}
	}
	return append(dst, v)
}

// IsJSONNumber reports whether b is exactly one JSON number literal
// (RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?).
func IsJSONNumber(b []byte) bool {
	i := 0
	digits := func() bool {
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > s
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(b) && len(b) > 0
}

// Translates reports whether an identifier the policy decided with action
// reaches the vendor as one exact value Consentry can name again: kept,
// hashed, tokenized, or scanned with nothing found. Anything else (dropped,
// masked, generalized, a scan that rewrote it) never reached the vendor as
// the identifier.
func Translates(action masking.Action, scanFound bool) bool {
	switch action {
	case masking.ActionKeep, masking.ActionHash, masking.ActionTokenize:
		return true
	case masking.ActionScan:
		return !scanFound
	}
	return false
}
