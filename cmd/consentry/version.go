package main

import (
	"runtime/debug"
	"strings"
)

// stampVersion fills what -ldflags did not set from the build info:
// the main module's version (a tag, a pseudo-version with "+dirty", or
// "(devel)", which is ignored), vcs.revision and vcs.modified.
func stampVersion(ldVersion, ldRevision string, read func() (*debug.BuildInfo, bool)) (ver, rev string, dirty bool) {
	ver, rev = ldVersion, ldRevision
	bi, ok := read()
	if !ok || bi == nil {
		return ver, rev, false
	}
	if (ver == "" || ver == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		ver = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if rev == "" {
				rev = s.Value
			}
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if strings.HasSuffix(ver, "+dirty") {
		dirty = true
	}
	return ver, rev, dirty
}

// versionLine is what `consentry version` prints.
func versionLine(ver, rev string, dirty bool, goVersion, platform string) string {
	var b strings.Builder
	b.WriteString("consentry " + ver + " (" + goVersion + ", " + platform)
	if rev != "" {
		b.WriteString(", commit " + rev[:min(12, len(rev))])
		if dirty {
			b.WriteString(", modified")
		}
	}
	b.WriteString(")")
	return b.String()
}
