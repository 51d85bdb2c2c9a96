package clevertap

import (
	"bytes"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/lzstring"
	"github.com/consentry/consentry/masking"
)

// ---------------------------------------------------------------------------
// The d payload

// cleanPayload decodes, cleans and re-encodes d into c.enc. kept=false means
// the record was dropped (suppressed subject or record policy).
func (c *webCleaner) cleanPayload(env *formats.Env, res *formats.Result) (kept, changed bool, err error) {
	p := &c.params[c.d]
	c.dJSON, err = lzstring.AppendDecompressFromBase64(c.dJSON[:0], p.val, MaxWebPayload)
	if err != nil {
		return false, false, formats.Errorf(400, "invalid_payload", "d is not LZ-String Base64: %v", err)
	}
	if e, inner, ok, err := openWebEIT(c.dJSON); err != nil {
		return false, false, err
	} else if ok {
		c.eit = e
		c.enc2 = append(c.enc2[:0], inner...)
		c.dJSON, err = lzstring.AppendDecompressFromBase64(c.dJSON[:0], c.enc2, MaxWebPayload)
		if err != nil {
			return false, false, formats.Errorf(400, "invalid_envelope", "the encrypted d is not LZ-String Base64: %v", err)
		}
		if c.route != routeRecorder {
			if id := gjson.GetBytes(c.dJSON, "id"); id.Exists() && (id.Type != gjson.String || id.Str != e.idStr) {
				return false, false, formats.Errorf(400, "account_mismatch", "the account ids of the envelope and of d disagree")
			}
		}
	}
	if c.route == routeRecorder {
		return c.cleanClick(env, res)
	}
	// Page URLs first: their parts are records of their own.
	c.dPre, err = c.cleanURLMembers(c.dPre[:0], c.dJSON, env)
	if err != nil {
		return false, false, err
	}
	rw := env.Rewriter
	end, err := rw.Parse(c.dPre, 0)
	if err != nil {
		return false, false, err
	}
	if j := masking.SkipSpace(c.dPre, end); j != len(c.dPre) {
		return false, false, formats.Errorf(400, "malformed_json", "trailing data after d")
	}
	subj, sig, err := c.subject(rw)
	if err != nil {
		return false, false, err
	}
	c.dOut, kept, err = env.CleanParsed(c.dOut[:0], FormatWeb, WebClassifier{}, subj, sig, res)
	if err != nil || !kept {
		return false, false, err
	}
	if bytes.Equal(c.dOut, c.dJSON) {
		return true, false, nil
	}
	return true, true, c.encodePayload()
}

// encodePayload encodes c.dOut into c.enc as the SDK would: LZ-String
// Base64, inside a fresh envelope when d came encrypted.
func (c *webCleaner) encodePayload() error {
	var err error
	if c.eit == nil {
		c.enc, err = lzstring.AppendCompressToBase64(c.enc[:0], c.dOut)
		return err
	}
	c.enc2, err = lzstring.AppendCompressToBase64(c.enc2[:0], c.dOut)
	if err != nil {
		return err
	}
	c.rec, err = c.eit.seal(c.rec[:0], c.enc2)
	if err != nil {
		return err
	}
	c.enc, err = lzstring.AppendCompressToBase64(c.enc[:0], c.rec)
	return err
}

// subject reads the record kind, the data subject and the rights signals
// from the parsed d.
// emailChannel is the index of "email" in formats.MarketingChannels.
const emailChannel = 2

func (c *webCleaner) subject(rw *masking.Rewriter) (formats.Subject, formats.Signals, error) {
	var subj formats.Subject
	var sig formats.Signals
	switch c.route {
	case routeEmail:
		subj.Kind = KindEmail
		switch string(c.value("sub")) {
		case "1":
			sig.Marketing[emailChannel] = 1
		case "0":
			sig.Marketing[emailChannel] = -1
		}
	default:
		t := rw.Lookup(0, "type")
		if rw.Type(t) == masking.TypeString {
			subj.Kind = formats.B2S(rw.Value(t)) // d stays unchanged until the record is emitted
		}
		switch subj.Kind {
		case "":
			subj.Kind = formats.B2S(c.value("type"))
		case KindQuery, KindLinkQuery, KindURL, KindClick, KindEmail, "meta":
			// The adapter's own kinds classify differently: never let a
			// payload borrow them.
			return subj, sig, formats.Errorf(400, "invalid_payload", "d has a reserved type")
		}
		if subj.Kind == "event" {
			subj.Name = formats.B2S(rw.Value(rw.Lookup(0, "evtName")))
		}
		if p := rw.Lookup(0, "profile"); rw.Type(p) == masking.TypeObject {
			if id := rw.Lookup(p, "Identity"); rw.Type(id) == masking.TypeString || rw.Type(id) == masking.TypeNumber {
				subj.Identity = rw.Value(id)
			}
			sig = profileSignals(rw, p)
		}
	}
	if g := rw.Lookup(0, "g"); rw.Type(g) == masking.TypeString && len(rw.Value(g)) > 0 {
		subj.Device = rw.Value(g)
	} else {
		subj.Device = c.value("gc")
	}
	// The optOut flag of a privacy push (a profile record); when both speak,
	// opting out wins. On other records it is no signal: an opt-out record
	// is forwarded, and an event must not pass for one.
	switch optOut := string(c.value("optOut")); {
	case subj.Kind != "profile":
	case optOut == "true":
		sig.OptOut = 1
	case optOut == "false":
		if sig.OptOut == 0 {
			sig.OptOut = -1
		}
	}
	return subj, sig, nil
}

// cleanClick cleans /r's d = "guid|page|session" as a record of kind click
// with fields g, p and s.
func (c *webCleaner) cleanClick(env *formats.Env, res *formats.Result) (kept, changed bool, err error) {
	parts := bytes.Split(c.dJSON, []byte("|"))
	if len(parts) != 3 || !utf8.Valid(c.dJSON) {
		return false, false, formats.Errorf(400, "invalid_payload", "the click payload is not guid|page|session")
	}
	c.rec = append(c.rec[:0], `{"g":`...)
	c.rec = appendJSONString(c.rec, parts[0])
	c.rec = append(c.rec, `,"p":`...)
	c.rec = appendJSONString(c.rec, parts[1])
	c.rec = append(c.rec, `,"s":`...)
	c.rec = appendJSONString(c.rec, parts[2])
	c.rec = append(c.rec, '}')
	rw := env.Rewriter
	if _, err := rw.Parse(c.rec, 0); err != nil {
		return false, false, err
	}
	subj := formats.Subject{Kind: KindClick, Device: parts[0]}
	if len(subj.Device) == 0 {
		subj.Device = c.value("gc")
	}
	c.recOut, kept, err = env.CleanParsed(c.recOut[:0], FormatWeb, WebClassifier{}, subj, formats.Signals{}, res)
	if err != nil || !kept {
		return false, false, err
	}
	var out [3][]byte
	c.outText = c.outText[:0]
	err = masking.EachMember(c.recOut, func(key []byte, s, e int, t masking.ValueType) error {
		i := bytes.IndexByte([]byte("gps"), keyByte(key))
		if i < 0 || t != masking.TypeString {
			return nil // dropped or turned into a non-string: leave the part empty
		}
		start := len(c.outText)
		c.outText, _ = masking.AppendUnquote(c.outText, c.recOut[s:e])
		out[i] = c.outText[start:len(c.outText):len(c.outText)]
		return nil
	})
	if err != nil {
		return false, false, err
	}
	c.dOut = append(append(append(append(append(c.dOut[:0], out[0]...), '|'), out[1]...), '|'), out[2]...)
	if bytes.Equal(c.dOut, c.dJSON) {
		return true, false, nil
	}
	return true, true, c.encodePayload()
}

func keyByte(k []byte) byte {
	if len(k) != 1 {
		return 0
	}
	return k[0]
}

// cleanARP cleans the arp object as kind "meta".
func (c *webCleaner) cleanARP(env *formats.Env) (bool, error) {
	p := &c.params[c.arp]
	var err error
	c.arpJSON, err = lzstring.AppendDecompressFromBase64(c.arpJSON[:0], p.val, MaxWebPayload)
	if err != nil {
		return false, formats.Errorf(400, "invalid_payload", "arp is not LZ-String Base64: %v", err)
	}
	c.arpOut, err = env.CleanHeader(c.arpOut[:0], c.arpJSON, FormatWeb, WebClassifier{})
	if err != nil {
		return false, err
	}
	if bytes.Equal(c.arpOut, c.arpJSON) {
		return false, nil
	}
	c.enc2, err = lzstring.AppendCompressToBase64(c.enc2[:0], c.arpOut)
	return true, err
}
