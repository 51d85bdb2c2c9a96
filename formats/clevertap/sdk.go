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
	// Two paths into element 0 stop at their keys (the header leads with
	// type and id); getting element 0 itself would scan all of it.
	if gjson.Get(formats.B2S(body), "0.type").Str != "meta" {
		return nil
	}
	if id := gjson.Get(formats.B2S(body), "0.id"); id.Type == gjson.String && id.Str != "" {
		return valueBytes(body, id)
	}
	return nil
}

// CleanSDK cleans an SDK batch (already decrypted) and appends the result to
// dst: the header first, then every record that is kept, in order. Each
// record is scanned once: parsed, read for its kind and subject, then
// emitted under its plan.
func CleanSDK(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
	var res formats.Result
	var device, identity []byte
	dataRecords, n := 0, 0
	if i := masking.SkipSpace(body, 0); i < len(body) && body[i] != '[' {
		return dst, res, formats.Errorf(400, "invalid_payload", "an SDK batch is a JSON array of a meta header and records")
	}
	rw := env.Rewriter
	dst = append(dst, '[')
	err := masking.ForEachElement(body, func(start int) (int, error) {
		idx := n
		n++
		if c := body[start]; c != '{' {
			return 0, formats.Errorf(400, "invalid_payload", "batch element %d is not an object", idx)
		}
		end, err := rw.Parse(body, start)
		if err != nil {
			return 0, err
		}
		// One pass over the record's members finds what Lookup would
		// (the last of duplicate keys) for every key the adapter reads.
		typ, evtName, profile, g := int32(-1), int32(-1), int32(-1), int32(-1)
		rw.Children(0, func(key []byte, n int32) {
			switch string(key) {
			case "type":
				typ = n
			case "evtName":
				evtName = n
			case "profile":
				profile = n
			case "g":
				g = n
			}
		})
		kind := formats.B2S(rw.Value(typ))
		if kind == "" {
			return 0, formats.Errorf(400, "invalid_payload", "batch element %d has no \"type\"", idx)
		}
		if !sdkKind(kind) {
			return 0, formats.Errorf(400, "invalid_payload", "batch element %d has an unknown \"type\" (want meta, event, profile, ping or data)", idx)
		}
		subj := formats.Subject{Kind: kind}
		var sig formats.Signals
		switch kind {
		case "meta":
			if idx != 0 {
				return 0, formats.Errorf(400, "invalid_payload", "batch element %d is a second \"meta\" header", idx)
			}
			if rw.Type(g) == masking.TypeString {
				device = rw.Value(g)
			}
			// The header is cleaned like a record but never suppressed: it
			// is dropped only when every record goes.
			if dst, err = env.CleanParsedHeader(dst, FormatSDK, Classifier{}); err != nil {
				return 0, err
			}
			return end, nil
		case "event":
			subj.Name = formats.B2S(rw.Value(evtName))
		case "profile":
			p := profile
			if id := rw.Lookup(p, "Identity"); rw.Type(id) == masking.TypeString || rw.Type(id) == masking.TypeNumber {
				identity = rw.Value(id)
			}
			sig = profileSignals(rw, p)
		}
		dataRecords++
		subj.Identity, subj.Device, subj.System = identity, device, IsSystem(kind, subj.Name)
		sep := len(dst)
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		out, kept, err := env.CleanParsed(dst, FormatSDK, Classifier{}, subj, sig, &res)
		if err != nil {
			return 0, err
		}
		if !kept {
			dst = dst[:sep]
			return end, nil
		}
		dst = out
		return end, nil
	})
	if err != nil {
		return dst[:0], res, err
	}
	res.AllDropped = dataRecords > 0 && res.RecordsOut == 0
	return append(dst, ']'), res, nil
}

// sdkKind reports whether kind is a record type of SDK batches
// (clevertap-wire.md §6.1). A switch: no map hashing per record.
func sdkKind(kind string) bool {
	switch kind {
	case "meta", "event", "profile", "ping", "data", "page":
		return true
	}
	return false
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

// marketingKeys are CleverTap's subscription keys in the order of
// formats.MarketingChannels. The DND keys are negative: MSG-dndPhone:true
// revokes the consent to contact the phone number at all.
var marketingKeys = [formats.NumMarketingChannels]struct {
	key      string
	negative bool
}{
	{"MSG-push", false}, {"MSG-push-all", false}, {"MSG-email", false}, {"MSG-sms", false},
	{"MSG-whatsapp", false}, {"MSG-dndPhone", true}, {"MSG-dndEmail", true},
}

// marketingConsent maps a CleverTap MSG-* key and its boolean value to a
// channel index and a consent (+1 granted, -1 revoked).
func marketingConsent(key []byte, value bool) (int, int8, bool) {
	for ch, k := range marketingKeys {
		if string(key) == k.key {
			if value != k.negative {
				return ch, 1, true
			}
			return ch, -1, true
		}
	}
	return 0, 0, false
}

// profileSignals reads opt-out and marketing flags from the profile object
// node p of the parsed record.
func profileSignals(rw *masking.Rewriter, p int32) formats.Signals {
	var sig formats.Signals
	rw.Children(p, func(key []byte, v int32) {
		t := rw.Type(v)
		switch {
		case string(key) == "ct_optout":
			if t == masking.TypeBool {
				sig.OptOut = -1
				if rw.Raw(v)[0] == 't' {
					sig.OptOut = 1
				}
			}
		case string(key) == "ct_allow_sys_events_and_communication":
			sig.AllowSystem = t == masking.TypeBool && rw.Raw(v)[0] == 't'
		case len(key) > 4 && string(key[:4]) == "MSG-":
			if t != masking.TypeBool {
				return
			}
			if ch, c, ok := marketingConsent(key, rw.Raw(v)[0] == 't'); ok {
				sig.Marketing[ch] = c
			}
		}
	})
	return sig
}

// systemEvent reports whether name is an event CleverTap's SDKs raise
// themselves; with ct_allow_sys_events_and_communication an opted-out
// subject's SDK still sends them (clevertap-wire.md §8.1). A switch: no map
// hashing per record.
func systemEvent(name string) bool {
	switch name {
	case "App Launched", "App Installed", "App Uninstalled", "App Version Changed",
		"Notification Sent", "Notification Viewed", "Notification Clicked",
		"Push Impressions", "UTM Visited", "Geocluster Entered", "Geocluster Exited",
		"wzrk_fetch", "App Inbox Viewed", "App Inbox Clicked":
		return true
	}
	return false
}

// IsSystem reports whether a record of kind and event name is one the SDKs
// treat as a system record: system events, profile pushes, pings and data
// (push token) records.
func IsSystem(kind, name string) bool {
	switch kind {
	case "profile", "ping", "data", "meta":
		return true
	case "event":
		return systemEvent(name)
	}
	return false
}
