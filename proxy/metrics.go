package proxy

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/consentry/consentry/audit"
	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/rights"
)

// PolicyStats is what the metrics read from the policy engine.
type PolicyStats interface {
	Evaluations() uint64
	Reloads() (ok, failed uint64, lastOK bool)
	// FailClosed counts decisions that failed (error, undefined, unknown
	// action) and therefore dropped their field.
	FailClosed() uint64
}

// BundleStats is what the metrics read from a policy bundle source
// (policy.bundle).
type BundleStats interface {
	// BundleRevision is the active bundle's revision, "" before the first.
	BundleRevision() string
	// BundleActivatedAt is when it was activated; zero before the first.
	BundleActivatedAt() time.Time
	// BundleFailures counts refused bundles by reason (a small fixed set).
	BundleFailures() map[string]uint64
}

// Metrics are Consentry's Prometheus metrics. Label sets are small and
// bounded: no tenant-supplied strings other than configured tenant names.
type Metrics struct {
	Registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	records         *prometheus.CounterVec
	actions         *prometheus.CounterVec
	errors          *prometheus.CounterVec
	upstreamLatency prometheus.Histogram
	duration        prometheus.Histogram
	budgetCtrs      [budget.NumKinds]prometheus.Counter

	mu          sync.Mutex
	actionCtrs  [masking.NumActions]prometheus.Counter
	recIn       prometheus.Counter
	recOut      prometheus.Counter
	recFailed   prometheus.Counter
	recSupp     prometheus.Counter
	recDropped  prometheus.Counter
	reqByStatus map[int]prometheus.Counter
}

// NewMetrics registers the metrics. A src that implements PolicyStats feeds
// the Rego evaluation and reload counters; one that implements BundleStats
// the consentry_policy_bundle_* metrics.
func NewMetrics(srcs ...any) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consentry_requests_total", Help: "Requests by HTTP status class and status.",
		}, []string{"status"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consentry_records_total", Help: "Records seen (in), forwarded (the upstream answered 2xx), upstream_failed (to be forwarded, but the upstream did not answer 2xx or they were not sent), suppressed (data-subject rights) and dropped by record policy.",
		}, []string{"outcome"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consentry_field_actions_total", Help: "Field actions applied, by action.",
		}, []string{"action"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consentry_request_errors_total", Help: "Refused or failed requests by error code.",
		}, []string{"code"}),
		upstreamLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "consentry_upstream_duration_seconds", Help: "Upstream round-trip time.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "consentry_request_duration_seconds", Help: "Time from request to reply, upstream included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		reqByStatus: map[int]prometheus.Counter{},
	}
	budgets := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "consentry_budget_exceeded_total", Help: "Fields dropped (rule consentry.budget) or requests refused because a budget ran out, by budget.",
	}, []string{"budget"})
	for k := range m.budgetCtrs {
		m.budgetCtrs[k] = budgets.WithLabelValues(budget.Kind(k).String())
	}
	reg.MustRegister(m.requests, m.records, m.actions, m.errors, m.upstreamLatency, m.duration, budgets,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for a := range m.actionCtrs {
		m.actionCtrs[a] = m.actions.WithLabelValues(masking.Action(a).String())
	}
	m.recIn = m.records.WithLabelValues("in")
	m.recOut = m.records.WithLabelValues("forwarded")
	m.recFailed = m.records.WithLabelValues("upstream_failed")
	m.recSupp = m.records.WithLabelValues("suppressed")
	m.recDropped = m.records.WithLabelValues("policy_dropped")
	for _, src := range srcs {
		m.register(src)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "consentry_build_info", Help: "Build information.", ConstLabels: prometheus.Labels{"version": Version, "revision": Revision},
	}, func() float64 { return 1 }))
	return m
}

// AuditStats is what the metrics read from the audit log.
type AuditStats interface {
	Dropped() uint64
	WriteErrors() uint64
}

func (m *Metrics) register(src any) {
	reg := m.Registry
	if as, ok := src.(AuditStats); ok {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "consentry_audit_dropped_total", Help: "Audit lines lost: the queue was full (a slow or stalled output) or a write failed at shutdown.",
		}, func() float64 { return float64(as.Dropped()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "consentry_audit_write_errors_total", Help: "Failed writes to the audit output (each is retried every second).",
		}, func() float64 { return float64(as.WriteErrors()) }))
	}
	if bs, ok := src.(BundleStats); ok {
		reg.MustRegister(newBundleCollector(bs))
	}
	if ps, ok := src.(PolicyStats); ok {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "consentry_rego_evaluations_total", Help: "Rego evaluations; flat in steady state because plans are cached.",
		}, func() float64 { return float64(ps.Evaluations()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "consentry_policy_errors_total", Help: "Policy decisions that failed (error, undefined, unknown action) and dropped their field.",
		}, func() float64 { return float64(ps.FailClosed()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "consentry_policy_reloads_total", Help: "Successful policy reloads.",
		}, func() float64 { ok, _, _ := ps.Reloads(); return float64(ok) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "consentry_policy_reload_errors_total", Help: "Failed policy reloads (the last good policy stays active).",
		}, func() float64 { _, bad, _ := ps.Reloads(); return float64(bad) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "consentry_policy_last_reload_successful", Help: "1 if the last policy (re)load succeeded.",
		}, func() float64 {
			if _, _, ok := ps.Reloads(); ok {
				return 1
			}
			return 0
		}))
	}
}

// bundleCollector reads the bundle source at scrape time, so that the info
// metric carries only the active revision (no stale label values).
type bundleCollector struct {
	src                   BundleStats
	info, activated, fail *prometheus.Desc
}

func newBundleCollector(src BundleStats) *bundleCollector {
	return &bundleCollector{
		src: src,
		info: prometheus.NewDesc("consentry_policy_bundle_info",
			"The active policy bundle's revision (absent until the first bundle is active).", []string{"revision"}, nil),
		activated: prometheus.NewDesc("consentry_policy_bundle_last_activation_timestamp_seconds",
			"When the active policy bundle was activated (0: none yet).", nil, nil),
		fail: prometheus.NewDesc("consentry_policy_bundle_failures_total",
			"Policy bundles refused (the last good one stays active), by reason: download, too_large, verify, parse, validate.", []string{"reason"}, nil),
	}
}

func (c *bundleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.info
	ch <- c.activated
	ch <- c.fail
}

func (c *bundleCollector) Collect(ch chan<- prometheus.Metric) {
	if rev := c.src.BundleRevision(); rev != "" {
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, rev)
	}
	var ts float64
	if at := c.src.BundleActivatedAt(); !at.IsZero() {
		ts = float64(at.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(c.activated, prometheus.GaugeValue, ts)
	failures := c.src.BundleFailures()
	reasons := make([]string, 0, len(failures))
	for r := range failures {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		ch <- prometheus.MustNewConstMetric(c.fail, prometheus.CounterValue, float64(failures[r]), r)
	}
}

// WatchRights exports the rights registry's state: subjects held in
// memory, health, and for a fleet (pg != nil) how current this instance
// is: the change-feed position it applied, seconds since it last confirmed
// it was current, polls, store errors, reloads, missed notifications.
func (m *Metrics) WatchRights(reg *rights.Registry, pg *rights.PGStore) {
	gauge := func(name, help string, f func() float64) {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() uint64) {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) }))
	}
	gauge("consentry_rights_subjects", "Subjects in the in-memory hot set (suppressed subjects and devices of suppressed identities).",
		func() float64 { return float64(reg.Len()) })
	gauge("consentry_rights_healthy", "1 if the registry answers lookups (store reachable and, in a fleet, confirmed current).", func() float64 {
		if reg.Healthy() {
			return 1
		}
		return 0
	})
	counter("consentry_rights_write_errors_total", "Rights changes that could not be committed (answered 503).", reg.WriteErrors)
	counter("consentry_rights_links_expired_total", "Identity-device links removed after the TTL (rights.links.ttl).", func() uint64 { e, _ := reg.LinkStats(); return e })
	counter("consentry_rights_links_evicted_total", "Identity-device links evicted by the per-identity or per-device cap.", func() uint64 { _, e := reg.LinkStats(); return e })
	counter("consentry_rights_link_refreshes_dropped_total", "Link last-seen refreshes dropped (queue full or commit failed); retried when the device is seen again.", func() uint64 { return reg.RefreshStats().Dropped })
	fs := reg.FollowStats()
	if fs == nil || pg == nil {
		return
	}
	gauge("consentry_rights_replication_lag_seconds", "Seconds since this instance last confirmed it had applied every change of the shared registry.",
		func() float64 { return fs.Lag(time.Now()).Seconds() })
	gauge("consentry_rights_replication_position", "Change-feed sequence number this instance has applied.",
		func() float64 { return float64(fs.Position.Load()) })
	counter("consentry_rights_feed_polls_total", "Polls of the change feed.", fs.Polls.Load)
	counter("consentry_rights_store_errors_total", "Polls of the shared store that failed.", fs.PollErrors.Load)
	counter("consentry_rights_feed_reloads_total", "Full reloads of the hot set (feed truncated or reset).", fs.Reloads.Load)
	counter("consentry_rights_notification_gaps_total", "Backstop polls that found changes no notification announced.", fs.MissedWakeups.Load)
	counter("consentry_rights_notifications_total", "LISTEN/NOTIFY wake-ups received.", func() uint64 { return pg.Stats().Notifications })
	counter("consentry_rights_listen_reconnects_total", "Reconnections of the listening connection.", func() uint64 { return pg.Stats().ListenReconnects })
	counter("consentry_rights_serialization_retries_total", "Transactions retried after losing a race with another instance.", func() uint64 { return pg.Stats().SerializationRetries })
}

// Version and Revision (the VCS commit, "" if unknown) are set by the
// binary at start-up.
var (
	Version  = "dev"
	Revision = ""
)

func (m *Metrics) observe(ar *audit.Record) {
	m.mu.Lock()
	c, ok := m.reqByStatus[ar.Status]
	if !ok {
		c = m.requests.WithLabelValues(strconv.Itoa(ar.Status))
		m.reqByStatus[ar.Status] = c
	}
	m.mu.Unlock()
	c.Inc()
	m.duration.Observe(ar.Duration.Seconds())
	if ar.Error != "" {
		m.errors.WithLabelValues(ar.Error).Inc()
	}
	if ar.RecordsIn > 0 {
		m.recIn.Add(float64(ar.RecordsIn))
		// Forwarded means delivered: the upstream answered 2xx. Records
		// the upstream refused or never saw are retried by the SDK.
		if ar.UpstreamStatus >= 200 && ar.UpstreamStatus <= 299 {
			m.recOut.Add(float64(ar.RecordsOut))
		} else {
			m.recFailed.Add(float64(ar.RecordsOut))
		}
		m.recSupp.Add(float64(ar.Suppressed))
		m.recDropped.Add(float64(ar.PolicyDropped))
	}
	if st := ar.Stats; st != nil {
		for a, n := range st.Actions {
			if n > 0 {
				m.actionCtrs[a].Add(float64(n))
			}
		}
		for k, n := range st.Budget.Exceeded {
			if n > 0 {
				m.budgetCtrs[k].Add(float64(n))
			}
		}
	}
}
