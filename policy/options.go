package policy

import (
	"io/fs"
	"log/slog"

	"github.com/consentry/consentry/budget"
)

// Cache accounting. Entries are charged at their real size plus
// entryOverhead, ristretto's bookkeeping per item (store and policy map
// entries, sketch counters); the expected sizes only size the admission
// sketches (about ten counters per expected entry).
const (
	entryOverhead        = 128
	expectedPlanBytes    = 2 << 10
	expectedDecisionCost = 160
	expectedRecordCost   = 256
)

// Option configures New.
type Option func(*options)

type options struct {
	fsys       fs.FS
	dir        string
	data       map[string]any
	logger     *slog.Logger
	limits     budget.Limits
	cacheBytes int64
	bundle     *BundleSource
	// skipValidation loads a policy whose decisions cannot all be applied
	// (tests of the fail-closed path only).
	skipValidation bool
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

// WithLimits sets the budgets the engine enforces (zero fields take the
// defaults of budget.Defaults): PlanCacheBytes for the caches of each
// policy revision, EvalTimeout for every Rego evaluation, and, for queries
// that carry a masking.PlanQuery.Usage, MaxNewShapesPerRequest,
// MaxNewShapesPerTenantMinute, MaxEvalsPerRequest, PolicyTimePerRequest and
// MaxConcurrentPlanning.
func WithLimits(l budget.Limits) Option {
	return func(o *options) { o.limits = l }
}

// WithCacheBytes bounds the memory of the caches of each policy revision
// (plans 3/4, field decisions 1/8, record decisions 1/8), overriding
// WithLimits' PlanCacheBytes.
func WithCacheBytes(n int64) Option { return func(o *options) { o.cacheBytes = n } }
