package gather

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/mxroute/mxroute/internal/cache"
	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
	"github.com/mxroute/mxroute/internal/routing"
)

const staleZone = `
stale.test.        60 IN SOA ns.stale.test. hostmaster.stale.test. 1 3600 600 86400 60
stale.test.        60 IN MX 10 mx1.stale.test.
stale.test.        60 IN MX 20 mx2.stale.test.
mx1.stale.test.    60 IN A 192.0.2.1
mx2.stale.test.    60 IN A 192.0.2.2
`

// TestStalePlanOneBudget: when the upstream stops answering, a plan whose
// answers have all expired comes back stale after one serve-stale timer,
// not one per round of lookups (MX, then addresses). The count of timers
// that fired is the mechanism under test: two would mean the address
// round waited StaleAnswerAfter again after the MX round did.
func TestStalePlanOneBudget(t *testing.T) {
	srv := dnstest.NewServer(t, staleZone)
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr()}, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	reader := sdkmetric.NewManualReader()
	c, err := cache.New(res, cache.Config{
		Now:              clock,
		StaleAnswerAfter: 100 * time.Millisecond,
		MeterProvider:    sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := New(c, Config{Now: clock, MaxInputs: -1})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Domain: "stale.test", Family: routing.FamilyIPv4}
	if p := s.Plan(t.Context(), req); p.Disposition != routing.Deliver || len(p.Attempts) != 2 {
		t.Fatalf("fresh plan: %s with %d attempts, want deliver to 2", p.Disposition, len(p.Attempts))
	}

	// Every answer expires, and the server stops answering.
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	srv.Handle(dnstest.Any, 0, func(*dns.Msg) *dns.Msg { return nil })

	p := s.Plan(t.Context(), req)
	if p.Disposition != routing.Deliver || len(p.Attempts) != 2 {
		t.Fatalf("stale plan: %s %s with %d attempts, want deliver to 2", p.Disposition, p.Reason, len(p.Attempts))
	}
	var stale int
	for _, w := range p.Warnings {
		if w.Code == routing.WarnStale {
			stale++
		}
	}
	if stale != 3 {
		t.Errorf("stale warnings: %d, want 3 (the MX and both hosts' addresses): %+v", stale, p.Warnings)
	}
	if n := staleTimeouts(t, reader); n != 1 {
		t.Errorf("serve-stale timers fired: %d, want 1 for the whole plan", n)
	}
}

func staleTimeouts(t *testing.T, reader sdkmetric.Reader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "mxroute.dns.cache.stale_timeouts" {
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}
