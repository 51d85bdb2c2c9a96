package amplitude

import (
	"bytes"
	"strconv"
	"time"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// Format is the policy's input.format for Amplitude.
const Format = "amplitude"

// Routes are Amplitude's ingestion endpoints. /batch is also a PostHog path
// (without the trailing slash); Detect claims only bodies with "events".
func Routes() []formats.Route {
	r := formats.Route{
		Method:   "POST",
		Format:   Format,
		Accounts: Accounts,
		Detect:   Detect,
		Clean:    Clean,
		Reply:    Reply,
		Browser:  true, // the browser SDK posts cross-origin
	}
	a, b := r, r
	a.Path, b.Path = "/2/httpapi", "/batch"
	return []formats.Route{a, b}
}

// Detect reports whether body is an Amplitude upload: an object with an
// "events" member.
func Detect(_ formats.Request, body []byte) bool {
	r := gjson.ParseBytes(body)
	return r.IsObject() && r.Get("events").Exists()
}

// Accounts appends the api_key of the body.
func Accounts(dst [][]byte, _ formats.Request, body []byte) [][]byte {
	r := gjson.GetBytes(body, "api_key")
	if !r.Exists() {
		return dst
	}
	if r.Type == gjson.String && r.Index > 0 && r.Index+len(r.Raw) <= len(body) {
		if v := body[r.Index : r.Index+len(r.Raw)]; bytes.IndexByte(v, '\\') < 0 {
			return append(dst, v[1:len(v)-1])
		}
		return append(dst, []byte(r.Str))
	}
	return append(dst, []byte(r.Raw))
}

// Clean cleans an upload {"api_key", "events":[...], ...} and appends the
// result to dst: the other top-level keys first, cleaned as one "meta"
// header, then the kept events in order.
func Clean(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
	var res formats.Result
	hdr := getHeader()
	defer putHeader(hdr)
	es, ee := -1, -1
	var apiKey []byte
	err := masking.EachMember(body, func(key []byte, s, e int, t masking.ValueType) error {
		switch string(key) {
		case "events":
			if es >= 0 {
				return formats.Errorf(400, "invalid_payload", "duplicate \"events\" key in upload body")
			}
			if t != masking.TypeArray {
				return formats.Errorf(400, "invalid_payload", "\"events\" must be an array of events")
			}
			es, ee = s, e
			return nil
		case "api_key":
			// Accounts reads the first one, Amplitude the last one.
			if apiKey != nil && !bytes.Equal(apiKey, body[s:e]) {
				return formats.Errorf(400, "duplicate_key", "upload body has two different \"api_key\" values")
			}
			apiKey = body[s:e]
		}
		hdr.add(key, body[s:e])
		return nil
	})
	if err != nil {
		return dst, res, err
	}
	if es < 0 {
		return dst, res, formats.Errorf(400, "invalid_payload", "upload body has no \"events\" array")
	}
	mark := len(dst)
	dst = append(dst, '{')
	dst, wrote, err := hdr.clean(dst, Format, env, Classifier{})
	if err != nil {
		return dst[:mark], res, err
	}
	if wrote {
		dst = append(dst, ',')
	}
	dst = append(dst, `"events":[`...)
	open := len(dst)
	events := body[es:ee]
	n := 0
	err = masking.EachElement(events, func(s, e int, t masking.ValueType) error {
		raw := events[s:e]
		idx := n
		n++
		if t != masking.TypeObject {
			return formats.Errorf(400, "invalid_payload", "event %d is a %s, want an object", idx, t)
		}
		if _, err := env.Rewriter.Parse(raw, 0); err != nil {
			return err
		}
		p := parsed{env.Rewriter}
		if p.rw.Type(p.node(0, "event_type")) != masking.TypeString {
			return formats.Errorf(400, "invalid_payload", "event %d has no \"event_type\" string", idx)
		}
		var subj formats.Subject
		var err error
		if subj.Identity, err = p.id(0, "user_id"); err != nil {
			return err
		}
		if subj.Device, err = p.id(0, "device_id"); err != nil {
			return err
		}
		if err := p.unique(0, "api_key"); err != nil {
			return err
		}
		switch name := p.str(0, "event_type"); name {
		case "$identify":
			subj.Kind = "identify"
		case "$groupidentify":
			subj.Kind = "group"
		default:
			subj.Kind, subj.Name = "event", name
		}
		sep := len(dst)
		if sep > open {
			dst = append(dst, ',')
		}
		out, kept, err := env.CleanParsed(dst, Format, Classifier{}, subj, formats.Signals{}, &res)
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
		return dst[:mark], res, err
	}
	res.AllDropped = res.RecordsIn > 0 && res.RecordsOut == 0
	return append(dst, "]}"...), res, nil
}

// Reply is Amplitude's success body. The node SDK reads the status from the
// body's "code" (a bare {} makes it re-send), so the proxy must answer with
// this shape when it drops every event.
func Reply(dst []byte, req formats.Request, res formats.Result) ([]byte, string) {
	size := 0
	if req != nil {
		size, _ = strconv.Atoi(string(req.Header("Content-Length")))
	}
	dst = append(dst, `{"code":200,"events_ingested":`...)
	dst = strconv.AppendInt(dst, int64(res.RecordsIn), 10)
	dst = append(dst, `,"payload_size_bytes":`...)
	dst = strconv.AppendInt(dst, int64(max(size, 0)), 10)
	dst = append(dst, `,"server_upload_time":`...)
	dst = strconv.AppendInt(dst, now().UnixMilli(), 10)
	return append(dst, '}'), "application/json; charset=utf-8"
}

// now is the clock of Reply; tests fix it.
var now = time.Now
