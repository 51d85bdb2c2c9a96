package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A path in CONSENTRY_ADMIN_TOKEN (which holds the token itself) is sent as
// the token; the 401 then says to use --token-file. A wrong token that is
// no file gets no hint, and a file given with --token-file works.
func TestSubjectsTokenHint(t *testing.T) {
	const secret = "0123456789abcdef-admin"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+secret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"invalid_token","message":"the bearer token is not one of admin_tokens"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"action":"show","report":{"known":false}}`))
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const hint = "CONSENTRY_ADMIN_TOKEN holds the token itself; use --token-file for a file"
	for _, tc := range []struct {
		name     string
		env      string
		args     []string
		code     int
		wantHint bool
	}{
		{name: "path in env", env: file, code: 1, wantHint: true},
		{name: "wrong token in env", env: "not-the-token-0123456789", code: 1},
		{name: "wrong token flag naming a file", args: []string{"--token", file}, code: 1},
		{name: "token in env", env: secret, code: 0},
		{name: "token file", args: []string{"--token-file", file}, code: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CONSENTRY_ADMIN_TOKEN", tc.env)
			args := append([]string{"show", "--admin", srv.URL, "--tenant", "acme", "--identity", "user-42"}, tc.args...)
			var out, errb bytes.Buffer
			code := runSubjects(args, strings.NewReader(""), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, errb.String())
			}
			if got := strings.Contains(errb.String(), hint); got != tc.wantHint {
				t.Fatalf("hint %v, want %v; stderr %s", got, tc.wantHint, errb.String())
			}
			if strings.Contains(errb.String(), file) {
				t.Fatalf("stderr names the file: %s", errb.String())
			}
		})
	}
}

// Every subjects action is in the top-level usage and the subjects usage.
func TestSubjectsUsageListsActions(t *testing.T) {
	for _, u := range []string{usage, subjectsUsage} {
		if !strings.Contains(u, "suppress|unsuppress|erase|show|access") {
			t.Errorf("usage lacks access:\n%s", u)
		}
		if !strings.Contains(u, "$CONSENTRY_ADMIN_TOKEN") || !strings.Contains(u, "token itself") {
			t.Errorf("usage does not say CONSENTRY_ADMIN_TOKEN holds the token itself:\n%s", u)
		}
	}
}
