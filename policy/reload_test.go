package policy

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/masking"
)

func genderDecision(t *testing.T, e *Engine) masking.Decision {
	t.Helper()
	plan, err := e.Plan(newQuery("acme", "clevertap.sdk", "profile", "", pathClassifier{"Gender": "person.gender"},
		field{"profileData.Gender", masking.TypeString}))
	if err != nil {
		t.Fatal(err)
	}
	return plan.Decisions[0]
}

// dropGender changes the shipped class rule of person.gender to drop.
func dropGender(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	from := `by_class := {"action": "keep", "rule": "gdpr.person.gender"}`
	if !strings.Contains(files["classes.rego"], from) {
		t.Fatalf("classes.rego has no %s", from)
	}
	src := strings.Replace(files["classes.rego"], from, `by_class := {"action": "drop", "rule": "test.gender"}`, 1)
	return map[string]string{"classes.rego": src}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	files := shippedFiles(t)
	writeFiles(t, dir, files)
	e := newEngine(t, WithDir(dir))
	rev0 := e.Revision()
	if d := genderDecision(t, e); d.Rule != "gdpr.person.gender" {
		t.Fatalf("initial gender decision %+v", d)
	}

	// Unchanged sources: success, same revision, caches kept.
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	evals := e.Stats().Evaluations
	genderDecision(t, e)
	if e.Revision() != rev0 || e.Stats().Evaluations != evals {
		t.Fatal("reload of unchanged sources changed the revision or dropped the caches")
	}

	// A broken file: error with file:line, last good policy stays.
	writeFiles(t, dir, map[string]string{"broken.rego": "package consentry\n\ndecision := \n"})
	err := e.Reload()
	if err == nil || !strings.Contains(err.Error(), "broken.rego:") {
		t.Fatalf("Reload of a broken file: %v", err)
	}
	st := e.Stats()
	if e.Revision() != rev0 || !e.Ready() || st.LastReloadOK || st.ReloadErrors != 1 {
		t.Fatalf("after failed reload: revision %s (want %s), stats %+v", e.Revision(), rev0, st)
	}
	if d := genderDecision(t, e); d.Rule != "gdpr.person.gender" {
		t.Fatalf("decision after failed reload %+v", d)
	}

	// Fixed and changed: swap, new revision, fresh caches.
	if err := os.Remove(filepath.Join(dir, "broken.rego")); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, dropGender(t, files))
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	st = e.Stats()
	if e.Revision() == rev0 || !st.LastReloadOK || st.Reloads != 2 {
		t.Fatalf("after good reload: revision %s, stats %+v", e.Revision(), st)
	}
	if d := genderDecision(t, e); d.Action != masking.ActionDrop || d.Rule != "test.gender" {
		t.Fatalf("decision after reload %+v", d)
	}
}

// waitRevision polls until the revision differs from old; bounded.
func waitRevision(t *testing.T, e *Engine, old string, touch func(i int)) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if touch != nil && i%10 == 0 {
			// Rewrite until seen: the watch may not be registered yet.
			touch(i)
		}
		if rev := e.Revision(); rev != old {
			return rev
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("revision still %s after 10s", old)
	return ""
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	files := shippedFiles(t)
	writeFiles(t, dir, files)
	e := newEngine(t, WithDir(dir))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.Watch(ctx); close(done) }()

	rev0 := e.Revision()
	waitRevision(t, e, rev0, func(i int) {
		m := dropGender(t, files)
		m["classes.rego"] += "\n# edit " + strconv.Itoa(i) + "\n"
		writeFiles(t, dir, m)
	})
	if d := genderDecision(t, e); d.Rule != "test.gender" {
		t.Fatalf("decision after watched change %+v", d)
	}

	// A new subdirectory is watched too.
	rev1 := e.Revision()
	waitRevision(t, e, rev1, func(i int) {
		writeFiles(t, dir, map[string]string{"sub/extra.rego": "package consentry\n\nextra := " + strconv.Itoa(i) + "\n"})
	})

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

// TestWatchConfigMap mimics a Kubernetes ConfigMap volume: files are links
// into ..data, which is swapped atomically to a new timestamped folder.
func TestWatchConfigMap(t *testing.T) {
	dir := t.TempDir()
	files := shippedFiles(t)
	v1 := filepath.Join(dir, "..2026_01_01")
	writeFiles(t, v1, files)
	if err := os.Symlink("..2026_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	e := newEngine(t, WithDir(dir)) // hidden folders are skipped: no duplicate modules
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go e.Watch(ctx)

	rev0 := e.Revision()
	waitRevision(t, e, rev0, func(i int) {
		v := filepath.Join(dir, "..v"+strconv.Itoa(i))
		m := dropGender(t, files)
		for name, src := range files {
			if _, ok := m[name]; !ok {
				m[name] = src
			}
		}
		writeFiles(t, v, m)
		tmp := filepath.Join(dir, "..data_tmp")
		_ = os.Remove(tmp)
		if err := os.Symlink(filepath.Base(v), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	})
	if d := genderDecision(t, e); d.Rule != "test.gender" {
		t.Fatalf("decision after ConfigMap swap %+v", d)
	}
}

func TestWatchWithoutDir(t *testing.T) {
	e := newEngine(t)
	done := make(chan struct{})
	go func() { e.Watch(t.Context()); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch without WithDir did not return")
	}
}
