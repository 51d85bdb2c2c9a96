package clevertap

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/consentry/consentry/formats"
)

// seedWebQueries adds the golden requests to a fuzz corpus.
func seedWebQueries(f *testing.F) {
	files, _ := filepath.Glob("testdata/web/*.json")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var tc webCase
		if err := json.Unmarshal(raw, &tc); err != nil {
			f.Fatal(err)
		}
		route := byte(0)
		switch tc.Route {
		case "/r":
			route = 1
		case "/e":
			route = 2
		}
		f.Add(route, tc.buildQuery(f))
	}
	f.Add(byte(0), "t=96&type=page&d=N4XyAA%3D%3D&useIP=true")
	f.Add(byte(0), "type=page&d=N4XyA===&&&=&%41=1")
	f.Add(byte(1), "r=1&d=%2B%2F%3D&r=2")
}

// FuzzWebCleanQuery: any query string either fails with a client error or
// yields a query that parses, whose d and arp decode; replies and account
// lookups never panic.
func FuzzWebCleanQuery(f *testing.F) {
	seedWebQueries(f)
	env := webEnv(f, webPolicy{}, &webSubjects{suppressed: map[string]bool{testGUID: true}})
	routes := WebRoutes()
	f.Fuzz(func(t *testing.T, route byte, query string) {
		rt := routes[int(route)%len(routes)]
		req := &StaticRequest{RawQuery: query, Headers: map[string]string{"Accept": "application/json"}}
		_ = rt.Accounts(nil, req, nil)
		env.Stats.Reset()
		out, res, err := rt.CleanQuery(nil, req, env)
		if err != nil {
			if fe := formats.AsError(err); fe.Status != 400 {
				t.Fatalf("status %d for a client error", fe.Status)
			}
			return
		}
		reply, ctype := rt.Reply(nil, req, res)
		if ctype == jsonType && !json.Valid(reply) {
			t.Fatalf("reply is not JSON: %s", reply)
		}
		if res.AllDropped {
			return
		}
		if !utf8.Valid(out) {
			t.Fatalf("output query is not UTF-8")
		}
		vals, err := url.ParseQuery(string(out))
		if err != nil {
			t.Fatalf("output query does not parse: %v\n%s", err, out)
		}
		for _, k := range []string{"d", "arp"} {
			for _, v := range vals[k] {
				text, err := DecodeWebParam(nil, []byte(url.QueryEscape(v)))
				if err != nil {
					t.Fatalf("%s does not decode: %v", k, err)
				}
				if rt.Path != "/r" && k == "d" && !json.Valid(text) {
					t.Fatalf("d is not JSON: %s", text)
				}
			}
		}
	})
}

// FuzzWebPageURL drives the URL cleaner through d.cpg.
func FuzzWebPageURL(f *testing.F) {
	for _, u := range []string{
		"https://user:pw@shop.example.com/u/jane@example.com?email=a%40b.co&x&y=%ZZ#/r?token=1",
		"https://a.example/#access_token=abc&state=1",
		"mailto:jane@example.com", "/p?q=1+2", "", "#", "?", "http://[::1]:80/%", "a:b:c//d",
	} {
		f.Add(u)
	}
	env := webEnv(f, webPolicy{}, nil)
	f.Fuzz(func(t *testing.T, u string) {
		if !utf8.ValidString(u) {
			return
		}
		js, _ := json.Marshal(map[string]any{"id": "A", "cpg": u, "referrer": u})
		query := q(t, "t", "96", "type", "page", "d", string(js), "origin", u)
		out, _, err := CleanWebIngest(nil, &StaticRequest{RawQuery: query}, env)
		if err != nil {
			if fe := formats.AsError(err); fe.Status != 400 {
				t.Fatalf("status %d", fe.Status)
			}
			return
		}
		vals, err := url.ParseQuery(string(out))
		if err != nil {
			t.Fatalf("output query does not parse: %v", err)
		}
		text, err := DecodeWebParam(nil, []byte(url.QueryEscape(vals.Get("d"))))
		if err != nil || !json.Valid(text) {
			t.Fatalf("d: %v %s", err, text)
		}
	})
}
