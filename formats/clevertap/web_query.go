package clevertap

import (
	"bytes"
	"errors"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/urlclean"
	"github.com/consentry/consentry/masking"
)

// ---------------------------------------------------------------------------
// The query record

// cleanParams runs every remaining parameter through one record of kind
// "query" and records each one's fate in its state.
func (c *webCleaner) cleanParams(env *formats.Env) error {
	c.rec = append(c.rec[:0], '{')
	c.outText = c.outText[:0]
	n := 0
	for i := range c.params {
		p := &c.params[i]
		switch p.spec.kind {
		case pDrop:
			p.state = psDrop
			continue
		case pPayload, pARP:
			continue
		}
		if n > 0 {
			c.rec = append(c.rec, ',')
		}
		n++
		c.rec = appendJSONString(c.rec, p.key)
		c.rec = append(c.rec, ':')
		val := p.val
		if p.spec.kind == pURL && p.hasEq {
			start := len(c.outText)
			var err error
			c.outText, err = c.cleanURL(c.outText, val, string(p.key), env)
			if err != nil {
				return err
			}
			val = c.outText[start:len(c.outText):len(c.outText)]
		}
		switch {
		case !p.hasEq:
			c.rec = append(c.rec, "null"...)
		case (p.spec.kind == pBool || p.spec.kind == pUseIP) && (string(val) == "true" || string(val) == "false"):
			c.rec = append(c.rec, val...)
		default:
			c.rec = appendJSONString(c.rec, val)
		}
	}
	c.rec = append(c.rec, '}')
	if n == 0 {
		return nil
	}
	var err error
	kind := KindQuery
	if c.route == routeRecorder {
		kind = KindLinkQuery
	}
	c.recOut, err = auxRewrite(c.recOut[:0], c.rec, kind, "", env)
	if err != nil {
		return err
	}
	// Match the output members to the parameters: the rewriter keeps the
	// order and the keys, and drops members.
	j := 0
	next := func(key []byte) *param {
		for ; j < len(c.params); j++ {
			p := &c.params[j]
			if k := p.spec.kind; k == pDrop || k == pPayload || k == pARP {
				continue
			}
			if bytes.Equal(p.key, key) {
				j++
				return p
			}
			p.state = psDrop
		}
		return nil
	}
	err = masking.EachMember(c.recOut, func(key []byte, s, e int, t masking.ValueType) error {
		p := next(key)
		if p == nil {
			return errors.New("cannot match the cleaned query to its parameters")
		}
		return c.settle(p, c.recOut[s:e], t)
	})
	if err != nil {
		return err
	}
	for ; j < len(c.params); j++ {
		if k := c.params[j].spec.kind; k != pPayload && k != pARP {
			c.params[j].state = psDrop
		}
	}
	return nil
}

// settle compares a parameter's cleaned JSON value with what was received.
func (c *webCleaner) settle(p *param, tok []byte, t masking.ValueType) error {
	if p.spec.kind == pUseIP {
		// The server may use the client's IP only if the client allowed it
		// and the policy kept that.
		if string(tok) == "true" && string(p.val) == "true" {
			p.state = psKeep
			return nil
		}
		if string(p.val) == "false" {
			p.state = psKeep
		} else {
			p.state, p.out = psChanged, []byte("false")
		}
		return nil
	}
	var val []byte
	switch t {
	case masking.TypeNull:
		if !p.hasEq {
			p.state = psKeep
			return nil
		}
		p.state, p.outNil = psChanged, true
		return nil
	case masking.TypeString:
		start := len(c.outText)
		var err error
		c.outText, err = masking.AppendUnquote(c.outText, tok)
		if err != nil {
			return err
		}
		val = c.outText[start:len(c.outText):len(c.outText)]
	default:
		val = tok // numbers and booleans as their JSON text
	}
	if p.hasEq && bytes.Equal(val, p.val) {
		p.state = psKeep
		return nil
	}
	p.state, p.out = psChanged, val
	return nil
}

// emit writes the new query string.
func (c *webCleaner) emit(dst []byte, dChanged, arpChanged bool) ([]byte, error) {
	first := true
	sep := func() {
		if !first {
			dst = append(dst, '&')
		}
		first = false
	}
	for i := range c.params {
		p := &c.params[i]
		switch {
		case i == c.d:
			sep()
			if !dChanged {
				dst = append(dst, p.raw...)
				continue
			}
			dst = append(append(dst, p.rawKey...), '=')
			dst = appendComponent(dst, c.enc)
		case i == c.arp:
			sep()
			if !arpChanged {
				dst = append(dst, p.raw...)
				continue
			}
			dst = append(append(dst, p.rawKey...), '=')
			dst = appendComponent(dst, c.enc2)
		case p.state == psDrop:
			if p.spec.kind == pUseIP {
				sep()
				dst = append(dst, p.rawKey...)
				dst = append(dst, "=false"...)
			}
		case p.state == psKeep:
			sep()
			dst = append(dst, p.raw...)
		case p.state == psChanged:
			sep()
			dst = append(dst, p.rawKey...)
			if !p.outNil {
				dst = append(dst, '=')
				dst = appendComponent(dst, p.out)
			}
		}
	}
	return dst, nil
}

// auxRewrite cleans one of the adapter's own records (query, url): never
// suppressed or counted, only decided field by field.
func auxRewrite(dst, raw []byte, kind, name string, env *formats.Env) ([]byte, error) {
	rec := auxRecord(kind, name, env)
	if err := formats.CheckNumbers(raw); err != nil {
		return dst, err
	}
	return env.Rewriter.Rewrite(dst, raw, &rec, env.Stats)
}

// auxRecord describes one of the adapter's own records.
func auxRecord(kind, name string, env *formats.Env) masking.Record {
	rec := masking.Record{
		Tenant:      env.Tenant,
		Format:      FormatWeb,
		Kind:        kind,
		Name:        name,
		Classifier:  WebClassifier{},
		Planner:     env.Planner,
		Transformer: env.Applier,
	}
	if env.OnRecord != nil {
		rec.OnPlan = func(p *masking.Plan) { env.OnRecord(kind, name, p) }
	}
	return rec
}

// ---------------------------------------------------------------------------
// URLs (split and decided part by part by package urlclean)

// cleanURLMembers rewrites the top-level string members cpg and referrer of
// the JSON object d, appending the result to dst. A d without them is
// copied as it is.
func (c *webCleaner) cleanURLMembers(dst, d []byte, env *formats.Env) ([]byte, error) {
	type repl struct {
		s, e int
		name string
	}
	var found [4]repl
	spans := found[:0]
	err := masking.EachMember(d, func(key []byte, s, e int, t masking.ValueType) error {
		if t != masking.TypeString {
			return nil
		}
		switch string(key) {
		case "cpg":
			spans = append(spans, repl{s, e, "cpg"})
		case "referrer":
			spans = append(spans, repl{s, e, "referrer"})
		}
		return nil
	})
	if err != nil {
		return dst, err
	}
	cursor := 0
	for _, sp := range spans {
		name := sp.name
		start := len(c.outText)
		c.outText, err = masking.AppendUnquote(c.outText, d[sp.s:sp.e])
		if err != nil {
			return dst, err
		}
		u := c.outText[start:len(c.outText):len(c.outText)]
		mark := len(c.outText)
		c.outText, err = c.cleanURL(c.outText, u, name, env)
		if err != nil {
			return dst, err
		}
		nu := c.outText[mark:]
		if bytes.Equal(nu, u) {
			continue
		}
		dst = append(dst, d[cursor:sp.s]...)
		dst = appendJSONString(dst, nu)
		cursor = sp.e
	}
	return append(dst, d[cursor:]...), nil
}

// cleanURL appends the cleaned form of the URL u to dst: its parts are a
// record of kind "url" named name (cpg, referrer, origin).
func (c *webCleaner) cleanURL(dst, u []byte, name string, env *formats.Env) ([]byte, error) {
	rec := auxRecord(KindURL, name, env)
	out, err := c.url.Append(dst, u, env.Rewriter, &rec, env.Stats)
	if errors.Is(err, urlclean.ErrTooManyParams) {
		return dst, formats.Errorf(400, "invalid_payload", "a URL has more than %d parameters", urlclean.MaxParams)
	}
	return out, err
}
