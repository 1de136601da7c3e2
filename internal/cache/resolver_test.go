package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// The cache in front of the real resolver.Client, talking DNS over UDP to
// an in-process authoritative server. The cache's clock is fake; the wire
// is real.

const zone = `
example.com.      3600 IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 120
example.com.       300 IN MX  10 mx1.example.com.
example.com.       300 IN MX  20 mx2.example.com.
mx1.example.com.   300 IN A   192.0.2.1
nomx.example.com.  300 IN A   192.0.2.2
slow.example.com.  300 IN MX  10 mx1.example.com.
`

func newResolverCache(t *testing.T, cfg Config) (*Cache, *dnstest.Server, *fakeClock) {
	t.Helper()
	srv := dnstest.NewServer(t, zone)
	client, err := resolver.New(resolver.Config{Servers: []string{srv.Addr()}})
	if err != nil {
		t.Fatalf("resolver.New: %v", err)
	}
	clock := newClock()
	return newCache(t, client, clock, cfg), srv, clock
}

func lookupOK(t *testing.T, c *Cache, name string, qtype uint16, wantResult Result, wantTTL time.Duration) resolver.Answer {
	t.Helper()
	a, r, err := c.LookupResult(context.Background(), name, qtype)
	if err != nil {
		t.Fatalf("LookupResult(%s %s): %v", name, dns.Type(qtype), err)
	}
	if r != wantResult || a.TTL != wantTTL {
		t.Errorf("LookupResult(%s %s): result %v, TTL %v; want %v, %v", name, dns.Type(qtype), r, a.TTL, wantResult, wantTTL)
	}
	return a
}

func TestResolverPositiveAndNegative(t *testing.T) {
	c, srv, clock := newResolverCache(t, Config{})

	a := lookupOK(t, c, "example.com", dns.TypeMX, ResultMiss, 300*time.Second)
	if len(a.Records) != 2 || !a.Authoritative {
		t.Fatalf("answer = %+v, want 2 authoritative MX", a)
	}
	clock.advance(100 * time.Second)
	lookupOK(t, c, "EXAMPLE.com.", dns.TypeMX, ResultHit, 200*time.Second)
	if got := srv.Queries("example.com.", dns.TypeMX, ""); got != 1 {
		t.Errorf("MX queries on the wire = %d, want 1", got)
	}

	// Negative answers live for the SOA's TTL/MINIMUM (120s here).
	if a := lookupOK(t, c, "missing.example.com", dns.TypeMX, ResultMiss, 120*time.Second); !a.NXDomain() {
		t.Errorf("answer = %+v, want NXDOMAIN", a)
	}
	if a := lookupOK(t, c, "nomx.example.com", dns.TypeMX, ResultMiss, 120*time.Second); !a.NoData() {
		t.Errorf("answer = %+v, want NODATA", a)
	}
	clock.advance(119 * time.Second)
	lookupOK(t, c, "missing.example.com", dns.TypeMX, ResultHit, time.Second)
	lookupOK(t, c, "nomx.example.com", dns.TypeMX, ResultHit, time.Second)
	for _, n := range []string{"missing.example.com.", "nomx.example.com."} {
		if got := srv.Queries(n, dns.TypeMX, ""); got != 1 {
			t.Errorf("%s MX queries on the wire = %d, want 1", n, got)
		}
	}
	clock.advance(time.Second)
	lookupOK(t, c, "missing.example.com", dns.TypeMX, ResultMiss, 120*time.Second)
	if got := srv.Queries("missing.example.com.", dns.TypeMX, ""); got != 2 {
		t.Errorf("missing.example.com. MX queries on the wire after expiry = %d, want 2", got)
	}
}

func TestResolverServFailServesStale(t *testing.T) {
	c, srv, clock := newResolverCache(t, Config{StaleFor: 10 * time.Minute})
	want := lookupOK(t, c, "example.com", dns.TypeMX, ResultMiss, 300*time.Second)

	clock.advance(300 * time.Second)
	srv.SetRcode("example.com.", dns.RcodeServerFailure)
	stale := lookupOK(t, c, "example.com", dns.TypeMX, ResultStale, DefaultStaleTTL)
	if len(stale.Records) != len(want.Records) || stale.Records[0] != want.Records[0] {
		t.Errorf("stale records = %v, want %v", stale.Records, want.Records)
	}
	queries := srv.Queries("example.com.", dns.TypeMX, "")
	if queries < 2 {
		t.Fatalf("MX queries on the wire = %d, want the SERVFAIL one too", queries)
	}
	lookupOK(t, c, "example.com", dns.TypeMX, ResultStale, DefaultStaleTTL)
	if got := srv.Queries("example.com.", dns.TypeMX, ""); got != queries {
		t.Errorf("MX queries within FailureTTL = %d, want still %d", got, queries)
	}

	clock.advance(10 * time.Minute)
	_, r, err := c.LookupResult(context.Background(), "example.com", dns.TypeMX)
	if !errors.Is(err, resolver.ErrServFail) || r != ResultError {
		t.Fatalf("after StaleFor: %v, %v; want %v wrapping %v", r, err, ResultError, resolver.ErrServFail)
	}

	srv.SetRcode("example.com.", dns.RcodeSuccess)
	clock.advance(DefaultFailureTTL)
	lookupOK(t, c, "example.com", dns.TypeMX, ResultMiss, 300*time.Second)
}

func TestResolverConcurrentLookupsOneQuery(t *testing.T) {
	c, srv, _ := newResolverCache(t, Config{})
	// The delay keeps the first query in flight while the others arrive;
	// any that arrive after it completes find a fresh entry (the clock
	// does not move), so the wire sees one query however they interleave.
	srv.SetDelay("slow.example.com.", 50*time.Millisecond)
	const callers = 20
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			a, err := c.Lookup(context.Background(), "slow.example.com", dns.TypeMX)
			if err != nil || len(a.Records) != 1 {
				t.Errorf("Lookup = %+v, %v; want one MX", a, err)
			}
		})
	}
	wg.Wait()
	if got := srv.Queries("slow.example.com.", dns.TypeMX, ""); got != 1 {
		t.Errorf("queries on the wire for %d concurrent lookups = %d, want 1", callers, got)
	}
}
