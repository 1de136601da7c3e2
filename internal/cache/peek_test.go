package cache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestPeek answers only what the cache can give at once, and never asks
// the upstream.
func TestPeek(t *testing.T) {
	up := newUpstream()
	up.set(mxAnswer("example.com.", 5*time.Minute, "mx.example.com."))
	clock := newClock()
	c := newCache(t, up, clock, Config{})
	ctx := context.Background()

	if _, r, ok := c.Peek(ctx, "example.com.", dns.TypeMX); ok || r != ResultMiss {
		t.Fatalf("empty cache: ok=%v result=%v, want a miss", ok, r)
	}
	if up.count() != 0 {
		t.Fatalf("Peek asked the upstream")
	}
	if _, err := c.Lookup(ctx, "example.com.", dns.TypeMX); err != nil {
		t.Fatal(err)
	}
	ans, r, ok := c.Peek(ctx, "EXAMPLE.com", dns.TypeMX)
	if !ok || r != ResultHit || len(ans.MX) != 1 {
		t.Fatalf("after a lookup: ok=%v result=%v records=%d, want a hit", ok, r, len(ans.MX))
	}
	clock.advance(6 * time.Minute)
	if _, r, ok := c.Peek(ctx, "example.com.", dns.TypeMX); ok || r != ResultMiss {
		t.Fatalf("expired: ok=%v result=%v, want a miss (Lookup refreshes)", ok, r)
	}
	// With the upstream failing, the failure is remembered and the stale
	// answer is what Peek gives.
	up.fail(errors.New("servfail"))
	if _, r, err := c.LookupResult(ctx, "example.com.", dns.TypeMX); err != nil || r != ResultStale {
		t.Fatalf("lookup while failing: %v %v, want stale", r, err)
	}
	if _, r, ok := c.Peek(ctx, "example.com.", dns.TypeMX); !ok || r != ResultStale {
		t.Fatalf("failure remembered: ok=%v result=%v, want the stale answer", ok, r)
	}
	if up.count() != 2 {
		t.Fatalf("upstream calls = %d, want the two lookups' only", up.count())
	}
}
