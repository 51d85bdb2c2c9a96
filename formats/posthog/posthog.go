package posthog

import (
	"bytes"
	"sync"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/vendorkit"
	"github.com/consentry/consentry/masking"
)

// Format is the policy's input.format for PostHog.
const Format = "posthog"

// Paths are PostHog's capture endpoints.
var Paths = []string{"/batch/", "/batch", "/capture/", "/capture", "/e/", "/e", "/i/v0/e/", "/i/v0/e"}

// Routes are PostHog's capture endpoints. /batch is also Amplitude's path;
// Detect claims only PostHog bodies there.
func Routes() []formats.Route {
	rs := make([]formats.Route, 0, len(Paths))
	for _, p := range Paths {
		rs = append(rs, formats.Route{
			Method:   "POST",
			Path:     p,
			Query:    []string{"compression", "ver", "_"},
			Format:   Format,
			Accounts: Accounts,
			Detect:   Detect,
			Clean:    Clean,
			Reply:    Reply,
			Browser:  true, // posthog-js posts cross-origin
		})
	}
	return rs
}

// Detect reports whether body is a PostHog capture: an envelope with
// "batch", an array of events, an event with "event", or a form body with
// data. Amplitude's {"events":[...]} is not.
func Detect(_ formats.Request, body []byte) bool {
	i := masking.SkipSpace(body, 0)
	if i >= len(body) {
		return false
	}
	switch body[i] {
	case '[':
		return true
	case '{':
		r := gjson.ParseBytes(body)
		return r.Get("batch").Exists() || r.Get("event").Exists()
	}
	return bytes.HasPrefix(body[i:], []byte("data="))
}

// Reply is PostHog's capture success body.
func Reply(dst []byte, _ formats.Request, _ formats.Result) ([]byte, string) {
	return append(dst, `{"status":1}`...), "application/json; charset=utf-8"
}

// Accounts appends the project keys a request names: api_key or token at
// the top level, in each event and in each event's properties (posthog-js).
func Accounts(dst [][]byte, _ formats.Request, body []byte) [][]byte {
	if i := masking.SkipSpace(body, 0); i < len(body) && body[i] != '{' && body[i] != '[' {
		plain, _, err := formPayload(nil, body)
		if err != nil {
			return dst
		}
		body = plain
	}
	root := gjson.ParseBytes(body)
	dst = eventAccounts(dst, root)
	var events gjson.Result
	switch {
	case root.IsArray():
		events = root
	case root.Get("batch").IsArray():
		events = root.Get("batch")
	default:
		return dst
	}
	events.ForEach(func(_, ev gjson.Result) bool {
		dst = eventAccounts(dst, ev)
		return true
	})
	return dst
}

func eventAccounts(dst [][]byte, ev gjson.Result) [][]byte {
	if !ev.IsObject() {
		return dst
	}
	for _, p := range [...]string{"api_key", "token", "properties.token"} {
		if v := ev.Get(p); v.Exists() {
			if v.Type == gjson.String {
				dst = append(dst, []byte(v.Str))
			} else {
				dst = append(dst, []byte(v.Raw))
			}
		}
	}
	return dst
}

// formPayload decodes a form body that must hold exactly one data parameter
// and nothing else.
func formPayload(dst, body []byte) ([]byte, vendorkit.DataEncoding, error) {
	ps, err := vendorkit.SplitParams(nil, body)
	if err != nil {
		return dst, vendorkit.DataEncoding{}, err
	}
	if len(ps) != 1 || !ps[0].Data {
		return dst, vendorkit.DataEncoding{}, formats.Errorf(400, "invalid_payload", "a form body must hold one data parameter and nothing else")
	}
	return vendorkit.DecodeData(dst, ps[0].Value)
}

var plainPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Clean cleans a capture body and appends it to dst in the shape and
// encoding it came in.
func Clean(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
	var res formats.Result
	i := masking.SkipSpace(body, 0)
	if i < len(body) && body[i] != '{' && body[i] != '[' {
		bp := plainPool.Get().(*[]byte)
		defer func() {
			if cap(*bp) <= 1<<20 {
				plainPool.Put(bp)
			}
		}()
		plain, enc, err := formPayload((*bp)[:0], body)
		if err != nil {
			return dst, res, err
		}
		*bp = plain
		// The cleaned JSON goes after dst's current end first, then is
		// encoded in place of it.
		mark := len(dst)
		out, err := cleanJSON(dst, plain, env, &res)
		if err != nil {
			return dst, res, err
		}
		cleaned := append([]byte(nil), out[mark:]...)
		dst = append(out[:mark], "data="...)
		return vendorkit.EncodeData(dst, cleaned, enc), res, nil
	}
	out, err := cleanJSON(dst, body, env, &res)
	return out, res, err
}

// capture is the envelope {"api_key", "batch":[events], "sent_at", ...}.
var capture = vendorkit.Envelope{Name: "capture body", Array: "batch", Items: "events", Item: "event", Credentials: []string{"token", "api_key"}}

// cleanJSON cleans an envelope, an array of events or one event.
func cleanJSON(dst, body []byte, env *formats.Env, res *formats.Result) ([]byte, error) {
	i := masking.SkipSpace(body, 0)
	if i < len(body) && body[i] == '[' {
		out, err := cleanEvents(dst, body, env, res)
		res.AllDropped = res.RecordsIn > 0 && res.RecordsOut == 0
		return out, err
	}
	out, ok, err := capture.Clean(dst, body, env, Format, Classifier{}, func(dst, raw []byte, _ int) ([]byte, bool, error) {
		return cleanEvent(dst, raw, env, res)
	})
	if err != nil {
		return dst, err
	}
	if !ok {
		// A single event.
		out, kept, err := cleanEvent(dst, body, env, res)
		if err != nil {
			return dst, err
		}
		res.AllDropped = !kept
		return out, nil
	}
	res.AllDropped = res.RecordsIn > 0 && res.RecordsOut == 0
	return out, nil
}

// cleanEvents cleans a JSON array of events.
func cleanEvents(dst, arr []byte, env *formats.Env, res *formats.Result) ([]byte, error) {
	return vendorkit.CleanArray(dst, arr, capture.Item, func(dst, raw []byte, _ int) ([]byte, bool, error) {
		return cleanEvent(dst, raw, env, res)
	})
}

// cleanEvent reads one event's kind and subject and cleans it.
func cleanEvent(dst, raw []byte, env *formats.Env, res *formats.Result) ([]byte, bool, error) {
	if _, err := env.Rewriter.Parse(raw, 0); err != nil {
		return dst, false, err
	}
	p := vendorkit.Parsed{RW: env.Rewriter}
	if p.RW.Type(p.Node(0, "event")) != masking.TypeString {
		return dst, false, formats.Errorf(400, "invalid_payload", "an event has no \"event\" name")
	}
	props := p.Node(0, "properties")
	if props >= 0 && p.RW.Type(props) != masking.TypeObject {
		return dst, false, formats.Errorf(400, "invalid_payload", "event \"properties\" must be an object")
	}
	// distinct_id at the top level (server SDKs) or in properties
	// (posthog-js); the device from $device_id, else the anonymous id an
	// $identify merges.
	var ids [4][]byte
	for i, k := range [...]struct {
		obj int32
		key string
	}{{0, "distinct_id"}, {props, "distinct_id"}, {props, "$device_id"}, {props, "$anon_distinct_id"}} {
		var err error
		if ids[i], err = p.ID(k.obj, k.key); err != nil {
			return dst, false, err
		}
	}
	for _, c := range [...]struct {
		obj int32
		key string
	}{{0, "api_key"}, {0, "token"}, {props, "token"}} {
		if c.obj < 0 {
			continue
		}
		if err := p.Unique(c.obj, c.key); err != nil {
			return dst, false, err
		}
	}
	subj := formats.Subject{Identity: ids[0], Device: ids[2]}
	if subj.Identity == nil {
		subj.Identity = ids[1]
	}
	if subj.Device == nil {
		subj.Device = ids[3]
	}
	switch name := p.Str(0, "event"); name {
	case "$identify", "$set":
		subj.Kind = "identify"
	case "$create_alias":
		subj.Kind = "alias"
	case "$groupidentify":
		subj.Kind = "group"
	default:
		subj.Kind, subj.Name = "event", name
	}
	return env.CleanParsed(dst, Format, Classifier{}, subj, formats.Signals{}, res)
}
