package clevertap

import (
	"bytes"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// Format names, as policies see them in input.format.
const (
	FormatSDK  = "clevertap.sdk"
	FormatREST = "clevertap.rest"
)

// SDKAccount returns the account id in the batch header (element 0's "id"),
// or nil. body must be the decrypted batch.
func SDKAccount(body []byte) []byte {
	r := gjson.Get(formats.B2S(body), "0")
	if r.Type != gjson.JSON || r.Get("type").Str != "meta" {
		return nil
	}
	if id := r.Get("id"); id.Type == gjson.String && id.Str != "" {
		return valueBytes(body, id)
	}
	return nil
}

// CleanSDK cleans an SDK batch (already decrypted) and appends the result to
// dst: the header first, then every record that is kept, in order.
func CleanSDK(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
	var res formats.Result
	var device []byte
	var identity []byte
	dataRecords := 0
	n := 0
	if i := masking.SkipSpace(body, 0); i < len(body) && body[i] != '[' {
		return dst, res, formats.Errorf(400, "invalid_payload", "an SDK batch is a JSON array of a meta header and records")
	}
	dst = append(dst, '[')
	err := masking.EachElement(body, func(start, end int, t masking.ValueType) error {
		raw := body[start:end]
		if t != masking.TypeObject {
			return formats.Errorf(400, "invalid_payload", "batch element %d is a %s, want an object", n, t)
		}
		idx := n
		n++
		rec := gjson.Parse(formats.B2S(raw))
		kind := rec.Get("type").Str
		if kind == "" {
			return formats.Errorf(400, "invalid_payload", "batch element %d has no \"type\"", idx)
		}
		subj := formats.Subject{Kind: kind}
		var sig formats.Signals
		switch kind {
		case "meta":
			if idx != 0 {
				return formats.Errorf(400, "invalid_payload", "batch element %d is a second \"meta\" header", idx)
			}
			if g := rec.Get("g"); g.Type == gjson.String {
				device = raw[g.Index+1 : g.Index+len(g.Raw)-1]
			}
			// The header is cleaned like a record but never suppressed:
			// it is dropped only when every record goes.
			out, err := env.CleanHeader(dst, raw, FormatSDK, Classifier{})
			if err != nil {
				return err
			}
			dst = out
			return nil
		case "event":
			subj.Name = rec.Get("evtName").Str
		case "profile":
			p := rec.Get("profile")
			if id := p.Get("Identity"); id.Exists() && (id.Type == gjson.String || id.Type == gjson.Number) {
				identity = valueBytes(raw, id)
			}
			sig = profileSignals(p)
		}
		dataRecords++
		subj.Identity, subj.Device = identity, device
		sep := len(dst)
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		out, kept, err := env.Clean(dst, raw, FormatSDK, Classifier{}, subj, sig, &res)
		if err != nil {
			return err
		}
		if !kept {
			dst = dst[:sep]
			return nil
		}
		dst = out
		return nil
	})
	if err != nil {
		return dst[:0], res, err
	}
	res.AllDropped = dataRecords > 0 && res.RecordsOut == 0
	return append(dst, ']'), res, nil
}

// valueBytes is the raw bytes of a string (without quotes) or number value.
func valueBytes(raw []byte, r gjson.Result) []byte {
	if r.Index <= 0 || r.Index+len(r.Raw) > len(raw) {
		return []byte(r.String())
	}
	v := raw[r.Index : r.Index+len(r.Raw)]
	if r.Type == gjson.String {
		if bytes.IndexByte(v, '\\') >= 0 {
			return []byte(r.Str)
		}
		return v[1 : len(v)-1]
	}
	return v
}

// marketingChannels maps CleverTap's subscription keys to channels.
var marketingChannels = map[string]string{
	"MSG-push": "push", "MSG-push-all": "push-all", "MSG-email": "email", "MSG-sms": "sms",
	"MSG-whatsapp": "whatsapp", "MSG-dndPhone": "dnd-phone", "MSG-dndEmail": "dnd-email",
}

// profileSignals reads opt-out and marketing flags from a profile object.
func profileSignals(p gjson.Result) formats.Signals {
	var sig formats.Signals
	if !p.IsObject() {
		return sig
	}
	p.ForEach(func(k, v gjson.Result) bool {
		switch key := k.Str; {
		case key == "ct_optout":
			if v.Type == gjson.True {
				sig.OptOut = 1
			} else if v.Type == gjson.False {
				sig.OptOut = -1
			}
		case key == "ct_allow_sys_events_and_communication":
			sig.AllowSystem = v.Type == gjson.True
		case len(key) > 4 && key[:4] == "MSG-":
			ch, ok := marketingChannels[key]
			if !ok || (v.Type != gjson.True && v.Type != gjson.False) {
				return true
			}
			if sig.Marketing == nil {
				sig.Marketing = map[string]int8{}
			}
			// For the dnd-* channels +1 means "do not disturb" is set.
			if v.Type == gjson.True {
				sig.Marketing[ch] = 1
			} else {
				sig.Marketing[ch] = -1
			}
		}
		return true
	})
	return sig
}
