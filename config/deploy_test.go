package config

import (
	"strings"
	"testing"
	"time"
)

func TestShutdownDefaults(t *testing.T) {
	for _, tc := range []struct {
		name         string
		yaml         string
		drain, grace time.Duration
	}{
		{"unset", "", DefaultDrainDelay, DefaultShutdownGrace},
		{"set", "shutdown: {drain_delay: 300ms, grace: 5s}\n", 300 * time.Millisecond, 5 * time.Second},
		{"negative turns the drain off", "shutdown: {drain_delay: -1s}\n", -1, DefaultShutdownGrace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if c.Shutdown.DrainDelay != tc.drain || c.Shutdown.Grace != tc.grace {
				t.Errorf("drain %v grace %v, want %v %v", c.Shutdown.DrainDelay, c.Shutdown.Grace, tc.drain, tc.grace)
			}
			c.applyDefaults() // idempotent: an off drain stays off
			if c.Shutdown.DrainDelay != tc.drain {
				t.Errorf("second applyDefaults changed drain to %v", c.Shutdown.DrainDelay)
			}
		})
	}
}

func TestFormatsOnlyForSingleTenant(t *testing.T) {
	c, err := Parse([]byte("formats: [segment]\ntenants:\n  acme: {upstream: http://x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "formats: applies to single-tenant mode only") {
		t.Fatalf("formats with tenants: %v", err)
	}
	c.SingleTenant = true
	if err := c.Validate(); err != nil {
		t.Fatalf("single tenant: %v", err)
	}
}
