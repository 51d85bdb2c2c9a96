package policy

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch timings: editors and ConfigMap updates write several files in a
// burst, so reload once the directory has been quiet for debounce; poll
// catches changes fsnotify misses (network file systems, lost events).
var (
	watchDebounce = 200 * time.Millisecond
	watchPoll     = 30 * time.Second
)

// Reload re-reads the sources, validates and prepares them, and swaps them
// in atomically. On error the last good policy stays active and the error
// says what to fix. Unchanged sources keep the current caches.
func (e *Engine) Reload() error {
	_, err := e.reload(true)
	return err
}

// reload loads and accounts for the attempt; count=false (Watch) counts an
// attempt only when it changed the policy or failed.
func (e *Engine) reload(count bool) (bool, error) {
	return e.reloadWith(count, e.load)
}

// reloadWith runs load (validate, then swap) under reloadMu and accounts
// for it in the reload counters.
func (e *Engine) reloadWith(count bool, load func() (bool, error)) (bool, error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	if e.closed.Load() {
		return false, errClosed
	}
	changed, err := load()
	if err != nil {
		e.reloadErrors.Add(1)
		e.lastReloadOK.Store(false)
		e.lastReloadAt.Store(time.Now().UnixNano())
		e.log.Error("policy reload failed, keeping the last good policy",
			slog.String("policy_revision", e.Revision()), slog.String("error", err.Error()))
		return false, err
	}
	if changed || count {
		e.reloads.Add(1)
		e.lastReloadOK.Store(true)
		e.lastReloadAt.Store(time.Now().UnixNano())
	}
	return changed, nil
}

// Watch reloads the policy when files in the WithDir directory (or its
// subdirectories) change, debounced, with a slow poll as backup. It returns
// when ctx is done, and at once for engines not created WithDir.
func (e *Engine) Watch(ctx context.Context) {
	dir := e.opts.dir
	if dir == "" {
		e.log.Debug("policy watch disabled: the policy was not loaded from a directory")
		return
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err != nil {
		e.log.Warn("cannot watch policy directory, polling only",
			slog.String("dir", dir), slog.Duration("interval", watchPoll), slog.String("error", err.Error()))
	} else {
		defer w.Close()
		events, errs = w.Events, w.Errors
		e.watchTree(w, dir)
	}

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	poll := time.NewTicker(watchPoll)
	defer poll.Stop()

	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && !hidden(ev.Name) {
					e.watchTree(w, ev.Name)
				}
			}
			debounce.Reset(watchDebounce)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			e.log.Warn("policy watch error", slog.String("dir", dir), slog.String("error", err.Error()))
			debounce.Reset(watchDebounce)
		case <-debounce.C:
			_, _ = e.reload(false)
		case <-poll.C:
			_, _ = e.reload(false)
		}
	}
}

// watchTree adds dir and its visible subdirectories to w. Adding a watched
// directory again is a no-op.
func (e *Engine) watchTree(w *fsnotify.Watcher, dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != dir && hidden(p) {
			return fs.SkipDir
		}
		if err := w.Add(p); err != nil {
			e.log.Warn("cannot watch policy directory", slog.String("dir", p), slog.String("error", err.Error()))
		}
		return nil
	})
}

func hidden(p string) bool { return strings.HasPrefix(filepath.Base(p), ".") }
