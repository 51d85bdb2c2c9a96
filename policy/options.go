package policy

import (
	"io/fs"
	"log/slog"
)

// Default cache sizes. A plan is one record shape of one tenant; a decision
// is one field shape, so there are a few per plan.
const (
	DefaultCacheSize       = 10_000
	decisionsPerPlan       = 4
	minDecisionCacheSize   = 1_024
	defaultRecordCacheSize = 4_096
)

// Option configures New.
type Option func(*options)

type options struct {
	fsys      fs.FS
	dir       string
	data      map[string]any
	logger    *slog.Logger
	cacheSize int64
	bundle    *BundleSource
}

// WithFS loads the Rego modules (every *.rego except *_test.rego, in any
// folder not starting with ".") and an optional data.json at the root of fsys.
// Without WithFS or WithDir, New loads the shipped rules.FS.
func WithFS(fsys fs.FS) Option { return func(o *options) { o.fsys = fsys } }

// WithDir loads the same files as WithFS from a directory and enables Watch.
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }

// WithBundle feeds the engine from a signed OPA bundle: New loads nothing,
// the engine is not Ready until src activates its first bundle, and every
// bundle src downloads and verifies goes through the same validate-then-swap
// as a Reload (WithData is merged the same way). Not with WithFS or WithDir.
func WithBundle(src *BundleSource) Option { return func(o *options) { o.bundle = src } }

// WithData merges data at the root of the policy's data document, over the
// files' data.json, e.g. {"tenants": {...}} from the YAML configuration.
// Objects merge key by key; for other values data wins.
func WithData(data map[string]any) Option { return func(o *options) { o.data = data } }

// WithLogger sets the logger for reloads and fail-closed decisions. The
// default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithCacheSize bounds the number of cached plans per policy revision
// (default DefaultCacheSize). The decision cache holds a few times as many
// field decisions.
func WithCacheSize(maxPlans int64) Option { return func(o *options) { o.cacheSize = maxPlans } }
