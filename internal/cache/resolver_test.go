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

func newResolverCache(t *testing.T, cfg Config, rcfg resolver.Config) (*Cache, *dnstest.Server, *fakeClock) {
	t.Helper()
	srv := dnstest.NewServer(t, zone)
	rcfg.Servers = []string{srv.Addr()}
	client, err := resolver.New(rcfg)
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
	c, srv, clock := newResolverCache(t, Config{}, resolver.Config{})

	a := lookupOK(t, c, "example.com", dns.TypeMX, ResultMiss, 300*time.Second)
	if len(a.MX) != 2 || !a.Authoritative {
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
	c, srv, clock := newResolverCache(t, Config{StaleFor: 10 * time.Minute}, resolver.Config{})
	want := lookupOK(t, c, "example.com", dns.TypeMX, ResultMiss, 300*time.Second)

	clock.advance(300 * time.Second)
	srv.SetRcode("example.com.", dns.RcodeServerFailure)
	stale := lookupOK(t, c, "example.com", dns.TypeMX, ResultStale, DefaultStaleTTL)
	if len(stale.MX) != len(want.MX) || stale.MX[0] != want.MX[0] {
		t.Errorf("stale records = %v, want %v", stale.MX, want.MX)
	}
	settle(c) // on a slow machine the stale answer may beat the SERVFAIL
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
	c, srv, _ := newResolverCache(t, Config{}, resolver.Config{})
	// The delay keeps the first query in flight while the others arrive;
	// any that arrive after it completes find a fresh entry (the clock
	// does not move), so the wire sees one query however they interleave.
	srv.SetDelay("slow.example.com.", 50*time.Millisecond)
	const callers = 20
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			a, err := c.Lookup(context.Background(), "slow.example.com", dns.TypeMX)
			if err != nil || len(a.MX) != 1 {
				t.Errorf("Lookup = %+v, %v; want one MX", a, err)
			}
		})
	}
	wg.Wait()
	if got := srv.Queries("slow.example.com.", dns.TypeMX, ""); got != 1 {
		t.Errorf("queries on the wire for %d concurrent lookups = %d, want 1", callers, got)
	}
}

// TestResolverSlowUpstreamServesStale: the server answers, but later than
// StaleAnswerAfter. Waiting would have returned a fresh answer (a miss);
// the caller gets the stale one instead, and the refresh lands in the
// background.
func TestResolverSlowUpstreamServesStale(t *testing.T) {
	// The resolver's timeout is far above the server's delay, so the
	// refresh succeeds: a stale result can only come from the timer.
	c, srv, clock := newResolverCache(t, Config{StaleAnswerAfter: 10 * time.Millisecond}, resolver.Config{Timeout: 10 * time.Second})
	lookupOK(t, c, "example.com", dns.TypeMX, ResultMiss, 300*time.Second)
	clock.advance(300 * time.Second)
	srv.SetDelay("example.com.", 500*time.Millisecond)

	if a := lookupOK(t, c, "example.com", dns.TypeMX, ResultStale, DefaultStaleTTL); len(a.MX) != 2 {
		t.Errorf("stale answer = %+v, want the 2 cached MX", a)
	}
	settle(c)
	if got := srv.Queries("example.com.", dns.TypeMX, ""); got != 2 {
		t.Fatalf("MX queries on the wire = %d, want 2: the first lookup and one refresh", got)
	}
	// The refresh's answer is in the cache: a hit, with no new query.
	lookupOK(t, c, "example.com", dns.TypeMX, ResultHit, 300*time.Second)
	if got := srv.Queries("example.com.", dns.TypeMX, ""); got != 2 {
		t.Errorf("MX queries on the wire after the refresh landed = %d, want still 2", got)
	}
}

// TestResolverDeadUpstreamServesStale: the server stops answering. The
// failed refresh is remembered for FailureTTL, during which lookups are
// answered stale without a query; after it, one refresh is sent again.
func TestResolverDeadUpstreamServesStale(t *testing.T) {
	c, srv, clock := newResolverCache(t, Config{StaleAnswerAfter: 10 * time.Millisecond},
		resolver.Config{Timeout: 100 * time.Millisecond, Budget: time.Second})
	lookupOK(t, c, "example.com", dns.TypeMX, ResultMiss, 300*time.Second)
	clock.advance(300 * time.Second)
	srv.SetDelay("example.com.", time.Hour) // until the server closes

	lookupOK(t, c, "example.com", dns.TypeMX, ResultStale, DefaultStaleTTL)
	settle(c)
	queries := srv.Queries("example.com.", dns.TypeMX, "")
	perRefresh := queries - 1
	if perRefresh < 1 {
		t.Fatalf("MX queries on the wire = %d, want the refresh's too", queries)
	}
	for range 5 {
		lookupOK(t, c, "example.com", dns.TypeMX, ResultStale, DefaultStaleTTL)
	}
	if got := srv.Queries("example.com.", dns.TypeMX, ""); got != queries {
		t.Errorf("MX queries while the failure is remembered = %d, want still %d", got, queries)
	}

	clock.advance(DefaultFailureTTL)
	for range 3 {
		lookupOK(t, c, "example.com", dns.TypeMX, ResultStale, DefaultStaleTTL)
	}
	settle(c)
	if got, want := srv.Queries("example.com.", dns.TypeMX, ""), queries+perRefresh; got != want {
		t.Errorf("MX queries after FailureTTL = %d, want %d: one more refresh", got, want)
	}
}
