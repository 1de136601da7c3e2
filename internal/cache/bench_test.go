package cache

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkLookupHit measures a hit on a cached MX answer: the cost the
// cache adds to every route request whose domain was seen recently.
func BenchmarkLookupHit(b *testing.B) {
	up := newUpstream()
	up.set(mxAnswer("example.com.", time.Hour, "mx1.example.com.", "mx2.example.com."))
	c := newCache(b, up, nil, Config{})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "example.com.", dns.TypeMX); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		a, err := c.Lookup(ctx, "example.com.", dns.TypeMX)
		if err != nil || len(a.MX) != 2 {
			b.Fatalf("Lookup = %+v, %v", a, err)
		}
	}
	if got := up.count(); got != 1 {
		b.Fatalf("upstream calls = %d, want 1", got)
	}
}

// BenchmarkLookupHitParallel is BenchmarkLookupHit from all Ps at once.
func BenchmarkLookupHitParallel(b *testing.B) {
	up := newUpstream()
	up.set(mxAnswer("example.com.", time.Hour, "mx1.example.com.", "mx2.example.com."))
	c := newCache(b, up, nil, Config{})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "example.com.", dns.TypeMX); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Lookup(ctx, "example.com.", dns.TypeMX); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLookupStaleRemembered measures a lookup during a resolver
// outage, once the failure is remembered: the stale answer comes from the
// cache with no upstream call and no wait, at about the cost of a hit.
func BenchmarkLookupStaleRemembered(b *testing.B) {
	up, clock := newUpstream(), newClock()
	up.set(mxAnswer("example.com.", time.Minute, "mx1.example.com.", "mx2.example.com."))
	c := newCache(b, up, clock, Config{})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "example.com.", dns.TypeMX); err != nil {
		b.Fatal(err)
	}
	clock.advance(time.Minute)
	up.fail(errUpstream)
	if _, r, err := c.LookupResult(ctx, "example.com.", dns.TypeMX); r != ResultStale || err != nil {
		b.Fatalf("LookupResult = %v, %v; want %v", r, err, ResultStale)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, r, err := c.LookupResult(ctx, "example.com.", dns.TypeMX); r != ResultStale || err != nil {
			b.Fatalf("LookupResult = %v, %v; want %v", r, err, ResultStale)
		}
	}
	if got := up.count(); got != 2 {
		b.Fatalf("upstream calls = %d, want 2", got)
	}
}
