package main

import (
	"runtime/debug"
	"testing"
)

func TestStampVersion(t *testing.T) {
	info := func(main string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/consentry/consentry", Version: main}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	const sha = "3f9c2ab41d0e5f6a7b8c9d0e1f2a3b4c5d6e7f80"
	for _, tc := range []struct {
		name              string
		ldVersion, ldRev  string
		read              func() (*debug.BuildInfo, bool)
		wantVer, wantLine string
	}{
		{"go install module@tag", "dev", "", info("v1.4.0"), "v1.4.0", "consentry v1.4.0 (go1.26.8, linux/amd64)"},
		{"go build in a clean checkout", "dev", "", info("v0.0.0-20261201230405-3f9c2ab41d0e", "vcs.revision", sha, "vcs.modified", "false"),
			"v0.0.0-20261201230405-3f9c2ab41d0e", "consentry v0.0.0-20261201230405-3f9c2ab41d0e (go1.26.8, linux/amd64, commit 3f9c2ab41d0e)"},
		{"go build with local changes", "dev", "", info("v0.0.0-20261201230405-3f9c2ab41d0e+dirty", "vcs.revision", sha, "vcs.modified", "true"),
			"v0.0.0-20261201230405-3f9c2ab41d0e+dirty", "consentry v0.0.0-20261201230405-3f9c2ab41d0e+dirty (go1.26.8, linux/amd64, commit 3f9c2ab41d0e, modified)"},
		{"(devel) without VCS", "dev", "", info("(devel)"), "dev", "consentry dev (go1.26.8, linux/amd64)"},
		{"-ldflags win", "v2.0.0", "abc123", info("v0.0.0-x", "vcs.revision", sha), "v2.0.0", "consentry v2.0.0 (go1.26.8, linux/amd64, commit abc123)"},
		{"no build info", "dev", "", func() (*debug.BuildInfo, bool) { return nil, false }, "dev", "consentry dev (go1.26.8, linux/amd64)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ver, rev, dirty := stampVersion(tc.ldVersion, tc.ldRev, tc.read)
			if ver != tc.wantVer {
				t.Errorf("version %q, want %q", ver, tc.wantVer)
			}
			if got := versionLine(ver, rev, dirty, "go1.26.8", "linux/amd64"); got != tc.wantLine {
				t.Errorf("line %q\nwant %q", got, tc.wantLine)
			}
		})
	}
}
