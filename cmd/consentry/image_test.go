package main

import (
	"encoding/json"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
	line      int
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur.Reset()
	}
	return out
}

// TestDockerfile checks the image conventions that no Docker engine here
// can check by building: pinned bases, a numeric non-root user, the data
// volume, exec-form entrypoint, and a default command that serve accepts.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "../../Dockerfile")
	goVersion := goModVersion(t)
	var froms []instruction
	final := map[string]instruction{} // the last stage's instructions by command
	for _, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, in)
			final = map[string]instruction{}
		}
		final[in.cmd] = in
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got %d FROM lines", len(froms))
	}
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`)
	for _, f := range froms {
		image := strings.Fields(f.args)[0]
		if !pinned.MatchString(image) {
			t.Errorf("line %d: FROM %s is not pinned by tag and digest", f.line, image)
		}
		if strings.Contains(image, ":latest") {
			t.Errorf("line %d: FROM %s uses latest", f.line, image)
		}
		if strings.HasPrefix(image, "golang:") && !strings.HasPrefix(image, "golang:"+goVersion+"-") {
			t.Errorf("line %d: builder %s is not Go %s (go.mod)", f.line, image, goVersion)
		}
	}
	if last := strings.Fields(froms[len(froms)-1].args)[0]; !strings.HasPrefix(last, "gcr.io/distroless/static-debian12:nonroot@") {
		t.Errorf("final stage %s is not distroless static nonroot", last)
	}

	for _, tc := range []struct {
		name  string
		check func(args string) bool
	}{
		{"USER", func(a string) bool {
			uid, gid, ok := strings.Cut(a, ":")
			u, err1 := strconv.Atoi(uid)
			_, err2 := strconv.Atoi(gid)
			return ok && err1 == nil && err2 == nil && u != 0 // numeric: runAsNonRoot can check it
		}},
		{"VOLUME", func(a string) bool { return a == "/var/lib/consentry" || a == `["/var/lib/consentry"]` }},
		{"ENTRYPOINT", func(a string) bool {
			var v []string
			return json.Unmarshal([]byte(a), &v) == nil && slices.Equal(v, []string{"/consentry"})
		}},
		{"HEALTHCHECK", func(a string) bool { return false }}, // must be absent: Kubernetes probes the admin port
	} {
		in, ok := final[tc.name]
		switch {
		case tc.name == "HEALTHCHECK" && ok:
			t.Errorf("line %d: HEALTHCHECK in the image (distroless has no curl; probe /livez and /readyz)", in.line)
		case tc.name != "HEALTHCHECK" && !ok:
			t.Errorf("final stage has no %s", tc.name)
		case ok && !tc.check(in.args):
			t.Errorf("line %d: %s %s", in.line, tc.name, in.args)
		}
	}

	cmd, ok := final["CMD"]
	var args []string
	if !ok || json.Unmarshal([]byte(cmd.args), &args) != nil || len(args) == 0 {
		t.Fatalf("CMD is not in exec form: %q", cmd.args)
	}
	if args[0] != "serve" {
		t.Fatalf("CMD does not run serve: %v", args)
	}
	fs, f := serveFlagSet(io.Discard)
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		t.Fatalf("serve does not accept the image's command %v: %v", args, err)
	}
	if f.data != "/var/lib/consentry" {
		t.Errorf("the command's --data is %q, want the volume /var/lib/consentry", f.data)
	}
	if f.config != "/etc/consentry/consentry.yaml" {
		t.Errorf("the command's --config is %q", f.config)
	}
	if strings.Contains(cmd.args, "pprof") {
		t.Errorf("the command enables profiling: %v", args)
	}
}

func goModVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	return string(m[1])
}
