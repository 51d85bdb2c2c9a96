// Package budget holds Consentry's explicit budgets: what one request, one
// tenant and the whole process may cost, as one Limits type (the
// configuration's limits: block), the kinds of budget that can run out, and
// the per-request Usage that the rewriter, the policy engine and the proxy
// charge.
//
// When a budget runs out Consentry either drops fields under the reserved
// rule id Rule ("consentry.budget": fail closed, never forwarded unmasked)
// or refuses the request with a JSON 4xx/503; which one is documented per
// Kind. Every hit is counted by Kind in the request's Usage, which the
// audit line and consentry_budget_exceeded_total{budget} report.
package budget

import (
	"errors"
	"fmt"
	"time"
)

// Rule is the rule id of fields dropped because a budget ran out. Policies
// may not use it.
const Rule = "consentry.budget"

// Defaults of Limits; zero values in a configuration take these.
const (
	DefaultMaxBodyBytes        = 4 << 20
	DefaultMaxHeaderBytes      = 16 << 10
	DefaultMaxDecompressed     = 16 << 20
	DefaultMaxCompressionRatio = 100

	// Keys and paths: a member over these is dropped whole.
	DefaultMaxKeyBytes  = 256
	DefaultMaxPathDepth = 32
	DefaultMaxPathBytes = 1024

	// New record shapes (plans built).
	DefaultMaxNewShapesPerRequest      = 100
	DefaultMaxNewShapesPerTenantMinute = 5000

	// Plan, decision and record caches together, per policy revision.
	DefaultPlanCacheBytes = 64 << 20

	// Remembered digests and tokens of the keyed transforms, all tenants.
	DefaultTransformCacheBytes = 16 << 20

	// Rego.
	DefaultEvalTimeout           = 250 * time.Millisecond
	DefaultMaxEvalsPerRequest    = 1000
	DefaultPolicyTimePerRequest  = 500 * time.Millisecond
	DefaultMaxConcurrentPlanning = 0 // 0: GOMAXPROCS-1 (at least 1)

	// Server.
	DefaultMaxConnections       = 10_000
	DefaultMaxInFlightRequests  = 1024
	DefaultMaxInFlightBodyBytes = 256 << 20
	DefaultMaxConnsPerIP        = 0 // off: behind a load balancer every client shares its address
	DefaultMaxRequestsPerConn   = 0 // off
	DefaultReadTimeout          = 30 * time.Second
	DefaultWriteTimeout         = 30 * time.Second
	DefaultIdleTimeout          = 60 * time.Second
	DefaultMaxPooledBufferBytes = 1 << 20

	// Access requests: the largest vendor reply Consentry opens for a
	// controller. The upstream client reads at most MaxUpstreamReplyBytes.
	DefaultMaxAccessResponseBytes = 8 << 20
	MaxUpstreamReplyBytes         = 16 << 20
)

// Limits bound what one request, one tenant and the process may cost. It is
// the configuration's limits: block. Zero values take the defaults
// (Defaults), except where noted.
type Limits struct {
	MaxBodyBytes        int `yaml:"max_body_bytes"`         // compressed size as received: 413
	MaxHeaderBytes      int `yaml:"max_header_bytes"`       // 431
	MaxDecompressed     int `yaml:"max_decompressed_bytes"` // 413
	MaxCompressionRatio int `yaml:"max_compression_ratio"`  // gzip bomb guard: 413

	// MaxKeyBytes bounds one object key as sent; a longer key's member is
	// dropped whole (rule consentry.budget).
	MaxKeyBytes int `yaml:"max_key_bytes"`
	// MaxPathDepth bounds a field's nesting depth; deeper members (and
	// array elements) are dropped whole.
	MaxPathDepth int `yaml:"max_path_depth"`
	// MaxPathBytes bounds the dotted path of a field ("evtData.Items[].Name");
	// members whose path would be longer are dropped whole.
	MaxPathBytes int `yaml:"max_path_bytes"`

	// MaxNewShapesPerRequest bounds the plans one request may build; the
	// fields of further new shapes are dropped (consentry.budget).
	MaxNewShapesPerRequest int `yaml:"max_new_shapes_per_request"`
	// MaxNewShapesPerTenantMinute bounds the plans one tenant may build per
	// minute; a request that needs more is refused with 503
	// shape_budget_exceeded (the SDK keeps and retries its data).
	MaxNewShapesPerTenantMinute int `yaml:"max_new_shapes_per_tenant_minute"`
	// PlanCacheBytes is the memory of the plan, field-decision and record
	// caches of a policy revision (3/4, 1/8 and 1/8), charged at each
	// entry's real size. Least valuable entries are evicted.
	PlanCacheBytes int64 `yaml:"plan_cache_bytes"`
	// TransformCacheBytes is the memory of the cache of keyed-transform
	// results (the HMAC digests of hash, the tokens of tokenize) shared by
	// every tenant, charged at each entry's real size. It holds keyed
	// hashes of values and their digests or tokens, never a value.
	TransformCacheBytes int64 `yaml:"transform_cache_bytes"`

	// EvalTimeout is the deadline of one Rego evaluation; a field whose
	// evaluation runs out is dropped (consentry.budget) and not cached.
	EvalTimeout time.Duration `yaml:"eval_timeout"`
	// MaxEvalsPerRequest bounds the Rego evaluations of one request; the
	// remaining undecided fields are dropped (consentry.budget).
	MaxEvalsPerRequest int `yaml:"max_evaluations_per_request"`
	// PolicyTimePerRequest bounds the time one request spends building
	// plans (evaluating, or waiting for a planning slot); then the
	// remaining undecided fields are dropped (consentry.budget).
	PolicyTimePerRequest time.Duration `yaml:"policy_time_per_request"`
	// MaxConcurrentPlanning bounds the requests building plans at once,
	// so that cold shapes cannot take every core from cached traffic.
	// 0: GOMAXPROCS-1, at least 1.
	MaxConcurrentPlanning int `yaml:"max_concurrent_planning"`

	// MaxConnections bounds open client connections (fasthttp
	// Server.Concurrency); beyond it fasthttp answers 503 in plain text.
	MaxConnections int `yaml:"max_connections"`
	// MaxInFlightRequests bounds requests being processed at once; more
	// are refused with 503 overloaded.
	MaxInFlightRequests int `yaml:"max_in_flight_requests"`
	// MaxInFlightBodyBytes bounds the body bytes (received and
	// decompressed) of requests being processed at once; a request that
	// would go over is refused with 503 overloaded.
	MaxInFlightBodyBytes int64 `yaml:"max_in_flight_body_bytes"`
	// MaxConnsPerIP bounds connections per client address (fasthttp answers
	// 429 beyond it); 0 (default) is off.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// MaxRequestsPerConn closes a connection after this many requests; 0
	// (default) is off.
	MaxRequestsPerConn int `yaml:"max_requests_per_conn"`
	// Read, write and keep-alive idle timeouts of client connections.
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
	// MaxPooledBufferBytes: request buffers (bodies, rewriter scratch) that
	// grew larger are released instead of returned to their pools.
	MaxPooledBufferBytes int `yaml:"max_pooled_buffer_bytes"`
	// MaxAccessResponseBytes bounds the vendor reply (decompressed) to an
	// access request that Consentry opens for the controller; a larger one
	// is refused with 502 access_response_too_large, nothing of it opened.
	MaxAccessResponseBytes int `yaml:"max_access_response_bytes"`
}

// Defaults returns Limits with every default.
func Defaults() Limits {
	var l Limits
	l.ApplyDefaults()
	return l
}

// ApplyDefaults replaces zero values with the defaults (MaxConnsPerIP,
// MaxRequestsPerConn and MaxConcurrentPlanning stay 0: off or automatic).
func (l *Limits) ApplyDefaults() {
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setInt(&l.MaxBodyBytes, DefaultMaxBodyBytes)
	setInt(&l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setInt(&l.MaxDecompressed, DefaultMaxDecompressed)
	setInt(&l.MaxCompressionRatio, DefaultMaxCompressionRatio)
	setInt(&l.MaxKeyBytes, DefaultMaxKeyBytes)
	setInt(&l.MaxPathDepth, DefaultMaxPathDepth)
	setInt(&l.MaxPathBytes, DefaultMaxPathBytes)
	setInt(&l.MaxNewShapesPerRequest, DefaultMaxNewShapesPerRequest)
	setInt(&l.MaxNewShapesPerTenantMinute, DefaultMaxNewShapesPerTenantMinute)
	if l.PlanCacheBytes == 0 {
		l.PlanCacheBytes = DefaultPlanCacheBytes
	}
	if l.TransformCacheBytes == 0 {
		l.TransformCacheBytes = DefaultTransformCacheBytes
	}
	setDur(&l.EvalTimeout, DefaultEvalTimeout)
	setInt(&l.MaxEvalsPerRequest, DefaultMaxEvalsPerRequest)
	setDur(&l.PolicyTimePerRequest, DefaultPolicyTimePerRequest)
	setInt(&l.MaxConnections, DefaultMaxConnections)
	setInt(&l.MaxInFlightRequests, DefaultMaxInFlightRequests)
	if l.MaxInFlightBodyBytes == 0 {
		l.MaxInFlightBodyBytes = DefaultMaxInFlightBodyBytes
	}
	setDur(&l.ReadTimeout, DefaultReadTimeout)
	setDur(&l.WriteTimeout, DefaultWriteTimeout)
	setDur(&l.IdleTimeout, DefaultIdleTimeout)
	setInt(&l.MaxPooledBufferBytes, DefaultMaxPooledBufferBytes)
	setInt(&l.MaxAccessResponseBytes, DefaultMaxAccessResponseBytes)
}

// Validate reports every problem, each naming its key under limits.
func (l *Limits) Validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if l.MaxBodyBytes < 1024 {
		bad("limits.max_body_bytes: %d is below 1024", l.MaxBodyBytes)
	}
	if l.MaxDecompressed < l.MaxBodyBytes {
		bad("limits.max_decompressed_bytes must be at least limits.max_body_bytes")
	}
	if l.MaxCompressionRatio < 1 {
		bad("limits.max_compression_ratio must be at least 1")
	}
	positive := []struct {
		name string
		v    int64
	}{
		{"max_key_bytes", int64(l.MaxKeyBytes)},
		{"max_path_depth", int64(l.MaxPathDepth)},
		{"max_path_bytes", int64(l.MaxPathBytes)},
		{"max_new_shapes_per_request", int64(l.MaxNewShapesPerRequest)},
		{"max_new_shapes_per_tenant_minute", int64(l.MaxNewShapesPerTenantMinute)},
		{"plan_cache_bytes", l.PlanCacheBytes},
		{"transform_cache_bytes", l.TransformCacheBytes},
		{"eval_timeout", int64(l.EvalTimeout)},
		{"max_evaluations_per_request", int64(l.MaxEvalsPerRequest)},
		{"policy_time_per_request", int64(l.PolicyTimePerRequest)},
		{"max_connections", int64(l.MaxConnections)},
		{"max_in_flight_requests", int64(l.MaxInFlightRequests)},
		{"max_in_flight_body_bytes", l.MaxInFlightBodyBytes},
		{"read_timeout", int64(l.ReadTimeout)},
		{"write_timeout", int64(l.WriteTimeout)},
		{"idle_timeout", int64(l.IdleTimeout)},
		{"max_pooled_buffer_bytes", int64(l.MaxPooledBufferBytes)},
		{"max_access_response_bytes", int64(l.MaxAccessResponseBytes)},
	}
	for _, p := range positive {
		if p.v <= 0 {
			bad("limits.%s: must be positive", p.name)
		}
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"max_conns_per_ip", l.MaxConnsPerIP}, {"max_requests_per_conn", l.MaxRequestsPerConn}, {"max_concurrent_planning", l.MaxConcurrentPlanning}} {
		if p.v < 0 {
			bad("limits.%s: must be 0 (off) or positive", p.name)
		}
	}
	if l.MaxAccessResponseBytes > MaxUpstreamReplyBytes {
		bad("limits.max_access_response_bytes: %d is above %d, the most Consentry reads of an upstream reply", l.MaxAccessResponseBytes, MaxUpstreamReplyBytes)
	}
	if l.MaxPathBytes > 0 && l.MaxKeyBytes > l.MaxPathBytes {
		bad("limits.max_key_bytes: must not exceed limits.max_path_bytes")
	}
	if l.PlanCacheBytes > 0 && l.PlanCacheBytes < 1<<20 {
		bad("limits.plan_cache_bytes: at least 1 MiB (1048576)")
	}
	if l.MaxInFlightBodyBytes > 0 && l.MaxInFlightBodyBytes < int64(l.MaxBodyBytes)+int64(l.MaxDecompressed) {
		bad("limits.max_in_flight_body_bytes: must be at least limits.max_body_bytes + limits.max_decompressed_bytes, or a lone large request could not pass")
	}
	return errs
}

// Kind is one budget that can run out.
type Kind uint8

// The budgets. Field budgets drop fields (rule consentry.budget); request
// budgets refuse the request.
const (
	KeyBytes         Kind = iota // a key over max_key_bytes: member dropped
	PathDepth                    // deeper than max_path_depth: member dropped
	PathBytes                    // path over max_path_bytes: member dropped
	RequestShapes                // over max_new_shapes_per_request: the new shape's fields dropped
	TenantShapes                 // over max_new_shapes_per_tenant_minute: 503 shape_budget_exceeded
	Evaluations                  // over max_evaluations_per_request: undecided fields dropped
	EvalDeadline                 // eval_timeout or policy_time_per_request ran out: undecided fields dropped
	InFlightRequests             // over max_in_flight_requests: 503 overloaded
	InFlightBytes                // over max_in_flight_body_bytes: 503 overloaded
	AccessResponse               // a vendor reply to an access request over max_access_response_bytes: 502 access_response_too_large
	AccessAuth                   // an access request refused after too many failed authentications: 429 access_rate_limited
	NumKinds
)

var kindNames = [NumKinds]string{
	KeyBytes:         "key_bytes",
	PathDepth:        "path_depth",
	PathBytes:        "path_bytes",
	RequestShapes:    "request_new_shapes",
	TenantShapes:     "tenant_new_shapes",
	Evaluations:      "evaluations",
	EvalDeadline:     "eval_deadline",
	InFlightRequests: "in_flight_requests",
	InFlightBytes:    "in_flight_bytes",
	AccessResponse:   "access_response_bytes",
	AccessAuth:       "access_auth_failures",
}

// String is the kind's label in metrics and audit lines.
func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Exceeded is the error of a budget that ran out.
type Exceeded struct{ Kind Kind }

func (e *Exceeded) Error() string { return "budget exceeded: " + e.Kind.String() }

// Is lets errors.Is(err, ErrExceeded) match every kind.
func (e *Exceeded) Is(target error) bool { return target == ErrExceeded }

// ErrExceeded matches every *Exceeded with errors.Is.
var ErrExceeded = errors.New("budget exceeded")

// Errors of each kind, preallocated so that charging allocates nothing.
var exceeded = func() (e [NumKinds]*Exceeded) {
	for k := range e {
		e[k] = &Exceeded{Kind: Kind(k)}
	}
	return e
}()

// Err returns the *Exceeded of kind k.
func Err(k Kind) error { return exceeded[k] }

// KindOf returns the kind of an *Exceeded in err's chain.
func KindOf(err error) (Kind, bool) {
	var e *Exceeded
	if errors.As(err, &e) {
		return e.Kind, true
	}
	return 0, false
}

// Usage is what one request has spent and where it hit a budget. The zero
// value is an unspent request that is not charged: a request handler sets
// Active (after Reset) to enforce the per-request budgets; tools and tests
// that clean many payloads with one Usage leave it off. It is not safe for
// concurrent use.
type Usage struct {
	Active      bool // charge this request's plan builds and evaluations
	NewShapes   int  // plans built
	Evaluations int  // Rego evaluations
	// Deadline ends the request's policy time; set at the first plan build.
	Deadline time.Time
	// Refused is set when a request budget ran out: the request must not be
	// forwarded (the proxy answers 503).
	Refused  bool
	Exceeded [NumKinds]int // fields (or requests) affected, by kind
}

// Reset clears u for the next request (and turns it off).
func (u *Usage) Reset() { *u = Usage{} }

// Add counts n fields (or one request) over budget k.
func (u *Usage) Add(k Kind, n int) { u.Exceeded[k] += n }

// Any reports whether a budget was hit.
func (u *Usage) Any() bool {
	for _, n := range u.Exceeded {
		if n > 0 {
			return true
		}
	}
	return false
}
