package budget

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDefaultsAreValid(t *testing.T) {
	l := Defaults()
	if errs := l.Validate(); len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	if l.MaxKeyBytes != DefaultMaxKeyBytes || l.PlanCacheBytes != DefaultPlanCacheBytes || l.MaxConnsPerIP != 0 {
		t.Fatalf("defaults %+v", l)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Limits)
		want   string // substring of the error, "" for none
	}{
		{"defaults", func(*Limits) {}, ""},
		{"negative key bytes", func(l *Limits) { l.MaxKeyBytes = -1 }, "limits.max_key_bytes: must be positive"},
		{"key longer than path", func(l *Limits) { l.MaxKeyBytes, l.MaxPathBytes = 100, 50 }, "limits.max_key_bytes: must not exceed"},
		{"tiny cache", func(l *Limits) { l.PlanCacheBytes = 1000 }, "limits.plan_cache_bytes: at least 1 MiB"},
		{"negative conns per ip", func(l *Limits) { l.MaxConnsPerIP = -1 }, "limits.max_conns_per_ip"},
		{"in-flight below one request", func(l *Limits) { l.MaxInFlightBodyBytes = 1 << 20 }, "limits.max_in_flight_body_bytes"},
		{"negative eval timeout", func(l *Limits) { l.EvalTimeout = -1 }, "limits.eval_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := Defaults()
			tc.change(&l)
			err := errors.Join(l.Validate()...)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestExceededErrors(t *testing.T) {
	for k := range NumKinds {
		err := fmt.Errorf("wrapped: %w", Err(k))
		got, ok := KindOf(err)
		if !ok || got != k || !errors.Is(err, ErrExceeded) {
			t.Errorf("kind %s: got %v %v", k, got, ok)
		}
		if k.String() == "unknown" || strings.ContainsAny(k.String(), " .") {
			t.Errorf("kind %d has label %q", k, k.String())
		}
	}
	if _, ok := KindOf(errors.New("other")); ok {
		t.Error("KindOf matched a plain error")
	}
}
