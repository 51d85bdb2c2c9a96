package clevertap

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/consentry/consentry/formats"
)

// queryReq is a request with a query string only.
type queryReq struct{ RawQuery string }

func (r *queryReq) Header(string) []byte { return nil }
func (r *queryReq) Query(name string) []byte {
	v, _ := url.ParseQuery(r.RawQuery)
	return []byte(v.Get(name))
}
func (r *queryReq) QueryString() []byte { return []byte(r.RawQuery) }

// uploadedEmail is what the vendor receives for a profile's Email in a REST
// upload under env.
func uploadedEmail(t *testing.T, env *formats.Env, email string) string {
	t.Helper()
	out, _, err := CleanREST(nil, []byte(`{"d":[{"type":"profile","identity":"u1","profileData":{"Email":"`+email+`"}}]}`), env)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		D []struct {
			ProfileData map[string]json.RawMessage `json:"profileData"`
		}
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got.D) != 1 {
		t.Fatalf("upload output %s: %v", out, err)
	}
	return string(got.D[0].ProfileData["Email"])
}

// The lookup names the person as uploads named them, and names maps the
// pseudonym back to the identifier the caller gave.
func TestProfileQueryTranslatesLikeUploads(t *testing.T) {
	for _, tc := range []struct {
		tenant, key, value string
		uploaded           func(t *testing.T, env *formats.Env) string // JSON token the vendor holds
	}{
		{"acme", "identity", "user-42", func(t *testing.T, env *formats.Env) string { return uploadedAs(t, env, "identity", `"user-42"`) }},
		{"acme", "objectId", "__g7c3", func(t *testing.T, env *formats.Env) string { return uploadedAs(t, env, "objectId", `"__g7c3"`) }},
		{"acme", "email", "jane@example.com", func(t *testing.T, env *formats.Env) string { return uploadedEmail(t, env, "jane@example.com") }},
		{"keeper", "identity", "user-42", func(*testing.T, *formats.Env) string { return `"user-42"` }},
		{"keeper", "email", "jane@example.com", func(*testing.T, *formats.Env) string { return `"jane@example.com"` }},
	} {
		t.Run(tc.tenant+"/"+tc.key, func(t *testing.T) {
			env := rightsEnv(t, tc.tenant, nil)
			want := tc.uploaded(t, env)
			names := map[string][]byte{}
			req := &queryReq{RawQuery: tc.key + "=" + url.QueryEscape(tc.value) + "&z=ACC"}
			q, err := profileQuery(nil, req, env, names)
			if err != nil {
				t.Fatal(err)
			}
			v, err := url.ParseQuery(string(q))
			if err != nil || len(v) != 1 {
				t.Fatalf("query %s: %v (only the key may go upstream)", q, err)
			}
			got, _ := json.Marshal(v.Get(tc.key))
			if string(got) != want {
				t.Errorf("lookup %s, uploads carried %s", got, want)
			}
			if strings.Contains(string(q), url.QueryEscape(tc.value)) != (tc.tenant == "keeper") {
				t.Errorf("query %s vs the raw identifier", q)
			}
			if tc.tenant == "keeper" {
				if len(names) != 0 {
					t.Errorf("kept identifier mapped: %v", names)
				}
				return
			}
			if orig := names[v.Get(tc.key)]; string(orig) != `"`+tc.value+`"` {
				t.Errorf("names = %q, want the pseudonym mapped to %q", names, tc.value)
			}
		})
	}
}

func TestProfileQueryRefuses(t *testing.T) {
	env := rightsEnv(t, "acme", nil)
	for _, tc := range []struct{ query, code string }{
		{"", "invalid_query"},
		{"z=ACC", "invalid_query"},
		{"identity=a&email=b%40c.d", "invalid_query"},
		{"identity=a&identity=a", "invalid_query"},
		{"identity=a&jane%40example.com=1", "unsupported_parameter"},
		{"identity=a&batch_size=3", "unsupported_parameter"},
		{"identity=", "invalid_identifier"},
		{"identity=%01x", "invalid_identifier"},
		{"identity=%zz", "invalid_query"},
		{"identity=" + strings.Repeat("x", 1025), "invalid_identifier"},
	} {
		_, err := profileQuery(nil, &queryReq{RawQuery: tc.query}, env, map[string][]byte{})
		if fe := formats.AsError(err); err == nil || fe.Code != tc.code || fe.Status != 400 || strings.Contains(fe.Msg, "jane") {
			t.Errorf("%.40q: %v, want 400 %s", tc.query, err, tc.code)
		}
	}
	// The policy never forwards the dropper tenant's identities: CleverTap
	// holds nothing under them, and nothing is asked.
	_, err := profileQuery(nil, &queryReq{RawQuery: "identity=x"}, rightsEnv(t, "dropper", nil), map[string][]byte{})
	if fe := formats.AsError(err); fe.Status != 404 || fe.Code != "identifier_not_forwarded" {
		t.Errorf("dropped identity: %v", err)
	}
}

func TestCursorQueries(t *testing.T) {
	for _, tc := range []struct {
		open        bool
		query, want string // want "!" = refused; "" = accepted with an empty query
	}{
		{true, "batch_size=23&app=true&z=ACC", "batch_size=23&app=true"},
		{true, "", ""},
		{true, "batch_size=5001", "!"},
		{true, "batch_size=-1", "!"},
		{true, "app=yes", "!"},
		{true, "cursor=x", "!"},
		{false, "cursor=ZyZpbGU%3D%2Fab", "cursor=ZyZpbGU%3D%2Fab"},
		{false, "z=ACC&cursor=abc", "cursor=abc"},
		{false, "", "!"},
		{false, "cursor=", "!"},
		{false, "cursor=a%22b<", "!"},
		{false, "cursor=a&email=x", "!"},
		{false, "cursor=a&cursor=b", "!"},
	} {
		req := &queryReq{RawQuery: tc.query}
		var got []byte
		var err error
		if tc.open {
			got, err = openCursorQuery(nil, req, nil, nil)
		} else {
			got, err = cursorQuery(nil, req, nil, nil)
		}
		switch {
		case tc.want == "!" && err == nil:
			t.Errorf("%q: forwarded %q, want refused", tc.query, got)
		case tc.want != "!" && (err != nil || string(got) != tc.want):
			t.Errorf("%q: %q %v, want %q", tc.query, got, err, tc.want)
		}
	}
}

func TestCursorBody(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"event_name":"App Launched","from":20260101,"to":20260131}`, true},
		{`{"event_name":"Charged","from":20260101}`, false},
		{`{"event_name":"Charged","from":"20260101","to":20260131}`, false},
		{`{"event_name":"Charged","from":1,"to":20260131}`, false},
		{`{"event_name":"Charged","from":20260101,"to":20260131,"props":[{"name":"Email","operator":"equals","value":"jane@example.com"}]}`, false},
		{`{"event_name":"Charged","from":20260101,"to":20260131,"common_profile_properties":{}}`, false},
		{`{"event_name":"Charged","event_name":"x","from":20260101,"to":20260131}`, false},
		{`[]`, false},
		{`{"event_name":"Charged","from":20260101,"to":20260131`, false},
	} {
		got, err := CursorBody(nil, []byte(tc.body))
		if tc.ok != (err == nil) || (tc.ok && string(got) != tc.body) {
			t.Errorf("%.60s: %q %v, want ok %v", tc.body, got, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "jane") {
			t.Errorf("error quotes a value: %v", err)
		}
	}
}

func TestAccessRoutesNeedThePasscode(t *testing.T) {
	routes := AccessRoutes()
	if len(routes) != 5 {
		t.Fatalf("%d access routes", len(routes))
	}
	for _, r := range routes {
		if r.Access == nil || r.CredentialHeader != PasscodeHeader || r.Format != FormatREST || r.Clean != nil {
			t.Errorf("%s %s: %+v", r.Method, r.Path, r)
		}
	}
}
