package amplitude

import (
	"bytes"
	"strconv"
	"time"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/vendorkit"
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

// upload is the body of both endpoints.
var upload = vendorkit.Envelope{Name: "upload body", Array: "events", Items: "events", Item: "event", Credentials: []string{"api_key"}}

// Clean cleans an upload {"api_key", "events":[...], ...} and appends the
// result to dst: the other top-level keys first, cleaned as one "meta"
// header, then the kept events in order.
func Clean(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
	var res formats.Result
	out, ok, err := upload.Clean(dst, body, env, Format, Classifier{}, func(dst, raw []byte, idx int) ([]byte, bool, error) {
		return cleanEvent(dst, raw, idx, env, &res)
	})
	if err == nil && !ok {
		err = upload.Missing()
	}
	if err != nil {
		return dst, res, err
	}
	res.AllDropped = res.RecordsIn > 0 && res.RecordsOut == 0
	return out, res, nil
}

// cleanEvent reads one event's kind and subject and cleans it.
func cleanEvent(dst, raw []byte, idx int, env *formats.Env, res *formats.Result) ([]byte, bool, error) {
	if _, err := env.Rewriter.Parse(raw, 0); err != nil {
		return dst, false, err
	}
	p := vendorkit.Parsed{RW: env.Rewriter}
	if p.RW.Type(p.Node(0, "event_type")) != masking.TypeString {
		return dst, false, formats.Errorf(400, "invalid_payload", "event %d has no \"event_type\" string", idx)
	}
	var subj formats.Subject
	var err error
	if subj.Identity, err = p.ID(0, "user_id"); err != nil {
		return dst, false, err
	}
	if subj.Device, err = p.ID(0, "device_id"); err != nil {
		return dst, false, err
	}
	if err := p.Unique(0, "api_key"); err != nil {
		return dst, false, err
	}
	switch name := p.Str(0, "event_type"); name {
	case "$identify":
		subj.Kind = "identify"
	case "$groupidentify":
		subj.Kind = "group"
	default:
		subj.Kind, subj.Name = "event", name
	}
	return env.CleanParsed(dst, Format, Classifier{}, subj, formats.Signals{}, res)
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
