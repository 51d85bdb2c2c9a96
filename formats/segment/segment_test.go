package segment

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/formatstest"
)

// TestGolden runs every testdata/*.http request through its route under the
// default policy and compares with the .golden file next to it.
// Regenerate with: go test ./formats/segment -run Golden -update
func TestGolden(t *testing.T) {
	formatstest.Golden(t, Routes(), nil, func(t *testing.T, _ *formatstest.Request, o *formatstest.Outcome) {
		if !json.Valid(o.Body) {
			t.Fatalf("output is not valid JSON: %s", o.Body)
		}
		formatstest.AssertNoSeeds(t, o.Body)
		for _, k := range []string{`"advertisingId"`, `"carrier"`, `"wifi"`, `"cellular"`, `"bluetooth"`, `"adTrackingEnabled"`} {
			if strings.Contains(string(o.Body), k) {
				t.Errorf("network or ad tracking key %s survived", k)
			}
		}
	})
}

// TestKeptFields checks that fields the default policy keeps arrive byte for
// byte as sent.
func TestKeptFields(t *testing.T) {
	formatstest.AssertKept(t, Routes(), []formatstest.Kept{
		{Name: "segment_node_batch", Paths: []string{
			"writeKey", "sentAt", "batch.0.type", "batch.0.timestamp", "batch.0.messageId",
			"batch.0.traits.plan", "batch.0.traits.address.city", "batch.0.context.device.model",
			"batch.0.context.library", "batch.0._metadata", "batch.0.integrations",
			"batch.1.event", "batch.1.properties.total", "batch.1.properties.currency",
		}},
		{Name: "segment_go_batch", Paths: []string{"messageId", "sentAt", "context.library", "batch.1.event", "batch.1.properties.total"}},
		{Name: "rudder_node_batch", Paths: []string{"timestamp", "sentAt", "batch.0.channel", "batch.0.originalTimestamp", "batch.0.context.library"}},
		{Name: "rudder_go_batch", Paths: []string{"batch.1.messageId", "batch.1.channel", "batch.1.context.library"}},
		{Name: "segment_browser_page", Paths: []string{"name", "properties.title", "properties.path", "context.locale", "context.timezone", "writeKey", "userId", "_metadata"}},
		{Name: "segment_group_alias_batch", Paths: []string{"batch.0.groupId", "batch.0.traits.employees", "batch.2.name", "batch.2.context.location.city"}},
	}, nil)
}

// TestMaskedFields checks what the default policy does to the identifiers
// and coordinates: hashed, tokenized, generalized, never the original.
func TestMaskedFields(t *testing.T) {
	o := formatstest.Serve(t, Routes(), formatstest.Load(t, "segment_node_batch"), formatstest.NewEnv(t, nil))
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	checks := map[string]func(string) bool{
		"batch.0.userId":          func(v string) bool { return len(v) == 64 }, // HMAC hex
		"batch.0.traits.email":    func(v string) bool { return strings.HasPrefix(v, "tok:t1:") },
		"batch.0.traits.phone":    func(v string) bool { return strings.HasPrefix(v, "tok:t1:") },
		"batch.0.context.ip":      func(v string) bool { return v == "203.0.113.0" },
		"batch.0.traits.name":     func(v string) bool { return v == "" },
		"batch.1.properties.note": func(v string) bool { return !strings.Contains(v, "4155550123") && strings.HasPrefix(v, "call me at ") },
	}
	for p, ok := range checks {
		if v := gjson.GetBytes(o.Body, p).String(); !ok(v) {
			t.Errorf("%s = %q", p, v)
		}
	}
	if a, b := gjson.GetBytes(o.Body, "batch.0.userId").Str, gjson.GetBytes(o.Body, "batch.1.userId").Str; a != b {
		t.Errorf("the same userId hashed differently: %s vs %s", a, b)
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		body    string
		want    string
	}{
		{"segment node", map[string]string{"user-agent": "analytics-node-next/latest"}, `{"batch":[{"type":"track","context":{"library":{"name":"@segment/analytics-node"}}}]}`, FormatSegment},
		{"segment go", nil, `{"batch":[{"type":"track"}],"context":{"library":{"name":"analytics-go"}}}`, FormatSegment},
		{"segment single", nil, `{"type":"track","event":"x"}`, FormatSegment},
		{"rudder go headers", map[string]string{"rs-targetnode": "0"}, `{"batch":[{"type":"track"}]}`, FormatRudderStack},
		{"rudder js header", map[string]string{"anonymousid": "YW5vbi0x"}, `{"type":"track"}`, FormatRudderStack},
		{"rudder channel", nil, `{"batch":[{"type":"track","channel":"server","context":{"library":{"name":"analytics-node"}}}]}`, FormatRudderStack},
		{"rudder single channel", nil, `{"type":"track","channel":"web"}`, FormatRudderStack},
		{"rudder library", nil, `{"type":"track","context":{"library":{"name":"RudderLabs JavaScript SDK"}}}`, FormatRudderStack},
		{"not json", nil, `nope`, FormatSegment},
	}
	routes := Routes()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := &formatstest.Request{Method: "POST", Path: "/v1/batch", Headers: map[string]string{}, Body: []byte(c.body)}
			for k, v := range c.headers {
				req.Headers[k] = v
			}
			var got string
			for _, r := range routes {
				if r.Path == "/v1/batch" && r.Detect(req, req.Body) {
					got = r.Format
					break
				}
			}
			if got != c.want {
				t.Errorf("detected %q, want %q", got, c.want)
			}
		})
	}
}

func TestAccounts(t *testing.T) {
	cases := []struct {
		name string
		auth string
		body string
		want []string
	}{
		{"basic", "Basic U0VHX1dSSVRFX0tFWTo=", `{"batch":[]}`, []string{"SEG_WRITE_KEY"}},
		{"basic without colon", "Basic U0VHX1dSSVRFX0tFWQ==", `{"batch":[]}`, []string{"SEG_WRITE_KEY"}},
		{"basic and body", "basic U0VHX1dSSVRFX0tFWTo=", `{"batch":[],"writeKey":"SEG_WRITE_KEY"}`, []string{"SEG_WRITE_KEY", "SEG_WRITE_KEY"}},
		{"per message", "", `{"batch":[{"writeKey":"A"},{"type":"track"},{"writeKey":"B"}]}`, []string{"A", "B"}},
		{"single message", "", `{"type":"track","writeKey":"K\u0031"}`, []string{"K1"}},
		{"bad basic", "Basic !!!", `{"batch":[]}`, nil},
		{"bearer", "Bearer abc", `{"writeKey":"K"}`, []string{"K"}},
		{"none", "", `{"batch":[]}`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := &formatstest.Request{Headers: map[string]string{}}
			if c.auth != "" {
				req.Headers["authorization"] = c.auth
			}
			var got []string
			for _, a := range Accounts(nil, req, []byte(c.body)) {
				got = append(got, string(a))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("accounts %q, want %q", got, c.want)
			}
		})
	}
}

// TestSuppressed drops the messages of a suppressed subject and answers with
// the vendor's reply when nothing is left.
func TestSuppressed(t *testing.T) {
	req := formatstest.Load(t, "segment_node_batch")
	routes := Routes()

	o := formatstest.Serve(t, routes, req, formatstest.NewEnv(t, formatstest.Suppress("user-42")))
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	if !o.Res.AllDropped || o.Res.Suppressed != 2 || o.Reply != `{"success":true}` {
		t.Errorf("result %+v reply %q, want all 2 suppressed and the Segment reply", o.Res, o.Reply)
	}

	// A suppressed device: only the message that names it goes.
	body := `{"batch":[{"type":"track","event":"a","anonymousId":"anon-1"},{"type":"track","event":"b","anonymousId":"anon-2"}],"writeKey":"K"}`
	env := formatstest.NewEnv(t, formatstest.Suppress("anon-1"))
	out, res, err := CleanBatch(nil, []byte(body), env, FormatSegment)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsOut != 1 || res.AllDropped || !json.Valid(out) || gjson.GetBytes(out, "batch.#").Int() != 1 ||
		gjson.GetBytes(out, "batch.0.event").Str != "b" || gjson.GetBytes(out, "writeKey").Str != "K" {
		t.Errorf("got %s %+v", out, res)
	}

	rreq := &formatstest.Request{Method: "POST", Path: "/v1/track", Headers: map[string]string{"rs-targetnode": "0"},
		Body: []byte(`{"userId":"user-42","event":"x"}`)}
	o = formatstest.Serve(t, routes, rreq, formatstest.NewEnv(t, formatstest.Suppress("user-42")))
	if o.Format != FormatRudderStack || !o.Res.AllDropped || o.Reply != "OK" || !strings.HasPrefix(o.ReplyType, "text/plain") {
		t.Errorf("rudderstack single message: %+v", o)
	}
}

// TestDuplicateKeys reads the subject from the last of duplicate keys, as
// the vendors' decoders do, and refuses two different write keys.
func TestDuplicateKeys(t *testing.T) {
	req := formatstest.ParseRequest(t, []byte("POST /v1/batch\n\n"+`{"batch":[{"type":"track","event":"x","userId":"user-1","user\u0049d":"user-42"}]}`))
	o := formatstest.Serve(t, Routes(), req, formatstest.NewEnv(t, formatstest.Suppress("user-42")))
	if o.Err != nil || !o.Res.AllDropped {
		t.Errorf("the last userId was not checked: %+v %v", o.Res, o.Err)
	}
	_, _, err := CleanBatch(nil, []byte(`{"batch":[{"type":"track","writeKey":"A","writeKey":"B"}]}`), formatstest.NewEnv(t, nil), FormatSegment)
	if fe := formats.AsError(err); err == nil || fe.Code != "duplicate_key" {
		t.Errorf("two write keys in a message: %v", err)
	}
}

// TestEmptyBatch forwards an empty batch: nothing was dropped.
func TestEmptyBatch(t *testing.T) {
	out, res, err := CleanBatch(nil, []byte(` {"batch":[]} `), formatstest.NewEnv(t, nil), FormatSegment)
	if err != nil || res.AllDropped || string(out) != `{"batch":[]}` {
		t.Errorf("got %s %+v %v", out, res, err)
	}
}

// TestErrorsCarryNoValues makes sure refusals never echo payload values.
func TestErrorsCarryNoValues(t *testing.T) {
	bodies := []string{
		`{"batch":[{"type":"jane.doe@example.com"}]}`,
		`{"batch":[{"type":"track","userId":{"jane.doe@example.com":1}}]}`,
		`{"batch":[{"type":"track","writeKey":"jane.doe@example.com","writeKey":"x"}]}`,
		`{"batch":"jane.doe@example.com"}`,
		`{"batch":["jane.doe@example.com"]}`,
		`{"batch":[],"writeKey":"jane.doe@example.com","writeKey":"x"}`,
		`{"batch":[{"type":"track","userId":"jane.doe@example.com"`,
	}
	formatstest.AssertRefusals(t, bodies, func(b []byte) error {
		_, _, err := CleanBatch(nil, b, formatstest.NewEnv(t, nil), FormatSegment)
		return err
	})
}

func TestClassify(t *testing.T) {
	cases := []struct{ kind, path, key, want string }{
		{"track", "context.library.name", "name", "app.info"},
		{"track", "context.library.name.x", "x", ""},
		{"track", "context.library.name", "library.name", ""},
		{"track", "context.device.advertisingId", "advertisingId", "device.ad_id"},
		{"track", "context.network.foo", "foo", "network.type"},
		{"track", "properties.name", "name", ""},
		{"identify", "traits.name", "name", "person.name"},
		{"group", "traits.name", "name", ""},
		{"identify", "context.traits.First Name", "First Name", "person.name"},
		{"track", "properties.products[].email", "email", "contact.email"},
		{"track", "properties.user.email", "user.email", "contact.email"},
		{"page", "name", "name", "record.meta"},
		{"track", "name", "name", ""},
		{"meta", "writeKey", "writeKey", "auth.account"},
		{"meta", "context.library.version", "version", "app.info"},
		{"track", "context.externalId[].id", "id", "id.user"},
		{"track", "context.consent.categoryPreferences.Advertising", "Advertising", "consent.marketing"},
		{"track", "integrations.Amplitude.session_id", "session_id", ""},
	}
	for _, c := range cases {
		if got := (Classifier{}).Classify(c.kind, c.path, c.key); got != c.want {
			t.Errorf("Classify(%q, %q, %q) = %q, want %q", c.kind, c.path, c.key, got, c.want)
		}
	}
}
