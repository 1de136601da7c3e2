package cache

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/mxroute/mxroute/internal/resolver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHitWithinTTLThenExpiry(t *testing.T) {
	up, clock := newUpstream(), newClock()
	up.set(mxAnswer("example.com.", 300*time.Second, "mx1.example.com.", "mx2.example.com."))
	c := newCache(t, up, clock, Config{})

	first := expect(t, c, up, "Example.COM", dns.TypeMX, ResultMiss, 300*time.Second, 1)
	if first.Name != "example.com." || len(first.MX) != 2 {
		t.Fatalf("first answer = %+v, want example.com. with 2 MX", first)
	}
	clock.advance(100 * time.Second)
	second := expect(t, c, up, "example.com.", dns.TypeMX, ResultHit, 200*time.Second, 1)
	if second.MX[0] != first.MX[0] || second.Server != "test" {
		t.Errorf("hit = %+v, want the cached answer %+v", second, first)
	}
	clock.advance(200*time.Second - time.Nanosecond)
	expect(t, c, up, "example.com", dns.TypeMX, ResultHit, time.Nanosecond, 1)
	clock.advance(time.Nanosecond)
	expect(t, c, up, "example.com", dns.TypeMX, ResultMiss, 300*time.Second, 2)
	// Another type of the same name is another entry.
	expect(t, c, up, "example.com", dns.TypeA, ResultMiss, time.Minute, 3)
}

func TestTTLClamping(t *testing.T) {
	nodata := resolver.Answer{Name: "example.com.", Qtype: dns.TypeMX, Rcode: dns.RcodeSuccess}
	nxdomain := resolver.Answer{Name: "example.com.", Qtype: dns.TypeMX, Rcode: dns.RcodeNameError}
	with := func(a resolver.Answer, ttl time.Duration) resolver.Answer { a.TTL = ttl; return a }
	tests := []struct {
		name   string
		cfg    Config
		answer resolver.Answer
		fresh  time.Duration
	}{
		{"positive within bounds", Config{}, mxAnswer("example.com.", 42*time.Second, "mx."), 42 * time.Second},
		{"positive TTL 0 raised to MinTTL", Config{}, mxAnswer("example.com.", 0, "mx."), DefaultMinTTL},
		{"positive TTL 1s raised to MinTTL", Config{}, mxAnswer("example.com.", time.Second, "mx."), DefaultMinTTL},
		{"positive 1d lowered to MaxTTL", Config{}, mxAnswer("example.com.", 24*time.Hour, "mx."), DefaultMaxTTL},
		{"positive custom bounds", Config{MinTTL: time.Minute, MaxTTL: 2 * time.Minute}, mxAnswer("example.com.", 10*time.Minute, "mx."), 2 * time.Minute},
		{"positive no floor", Config{MinTTL: -1}, mxAnswer("example.com.", time.Second, "mx."), time.Second},
		{"NXDOMAIN SOA TTL kept", Config{}, with(nxdomain, 10*time.Minute), 10 * time.Minute},
		{"NXDOMAIN 1h lowered to NegativeMaxTTL", Config{}, with(nxdomain, time.Hour), DefaultNegativeMaxTTL},
		{"NXDOMAIN 1s raised to MinTTL", Config{}, with(nxdomain, time.Second), DefaultMinTTL},
		{"NODATA 3h lowered to NegativeMaxTTL", Config{}, with(nodata, 3*time.Hour), DefaultNegativeMaxTTL},
		{"NODATA custom NegativeMaxTTL", Config{NegativeMaxTTL: time.Minute}, with(nodata, 5*time.Minute), time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, clock := newUpstream(), newClock()
			up.set(tt.answer)
			c := newCache(t, up, clock, tt.cfg)
			expect(t, c, up, "example.com.", dns.TypeMX, ResultMiss, tt.fresh, 1)
			clock.advance(tt.fresh - time.Nanosecond)
			expect(t, c, up, "example.com.", dns.TypeMX, ResultHit, time.Nanosecond, 1)
			clock.advance(time.Nanosecond)
			expect(t, c, up, "example.com.", dns.TypeMX, ResultMiss, tt.fresh, 2)
		})
	}
}

func TestNegativeCaching(t *testing.T) {
	up, clock := newUpstream(), newClock()
	// NODATA: the name exists, without MX; its SOA minimum is 120s.
	up.set(resolver.Answer{Name: "nomx.example.", Qtype: dns.TypeMX, Rcode: dns.RcodeSuccess, TTL: 120 * time.Second})
	c := newCache(t, up, clock, Config{})

	// NXDOMAIN: absent from the upstream's answers, SOA minimum 60s.
	nx := expect(t, c, up, "missing.example.", dns.TypeMX, ResultMiss, time.Minute, 1)
	if !nx.NXDomain() {
		t.Fatalf("answer = %+v, want NXDOMAIN", nx)
	}
	nd := expect(t, c, up, "nomx.example.", dns.TypeMX, ResultMiss, 120*time.Second, 2)
	if !nd.NoData() || nd.NXDomain() {
		t.Fatalf("answer = %+v, want NODATA", nd)
	}

	clock.advance(59 * time.Second)
	if a := expect(t, c, up, "missing.example.", dns.TypeMX, ResultHit, time.Second, 2); !a.NXDomain() {
		t.Errorf("cached answer = %+v, want NXDOMAIN", a)
	}
	if a := expect(t, c, up, "nomx.example.", dns.TypeMX, ResultHit, 61*time.Second, 2); !a.NoData() {
		t.Errorf("cached answer = %+v, want NODATA", a)
	}
	clock.advance(time.Second)
	expect(t, c, up, "missing.example.", dns.TypeMX, ResultMiss, time.Minute, 3)
	expect(t, c, up, "nomx.example.", dns.TypeMX, ResultHit, 60*time.Second, 3)
}

func TestServeStale(t *testing.T) {
	// In a bubble, so that the upstream's immediate failure always beats
	// the StaleAnswerAfter timer, and the upstream calls can be counted
	// as soon as each lookup returns.
	synctest.Test(t, testServeStale)
}

func testServeStale(t *testing.T) {
	up, clock := newUpstream(), newClock()
	up.set(mxAnswer("example.com.", time.Minute, "mx.example.com."))
	c := newCache(t, up, clock, Config{StaleFor: 10 * time.Minute})

	want := expect(t, c, up, "example.com.", dns.TypeMX, ResultMiss, time.Minute, 1)
	clock.advance(time.Minute)
	up.fail(errUpstream)

	stale := expect(t, c, up, "example.com.", dns.TypeMX, ResultStale, DefaultStaleTTL, 2)
	if len(stale.MX) != 1 || stale.MX[0] != want.MX[0] {
		t.Errorf("stale answer records = %v, want %v", stale.MX, want.MX)
	}
	// The failure is remembered for FailureTTL: stale again, upstream spared.
	expect(t, c, up, "example.com.", dns.TypeMX, ResultStale, DefaultStaleTTL, 2)
	clock.advance(DefaultFailureTTL)
	expect(t, c, up, "example.com.", dns.TypeMX, ResultStale, DefaultStaleTTL, 3)

	// Up to the end of StaleFor, counted from the expiry.
	clock.advance(10*time.Minute - DefaultFailureTTL - time.Nanosecond)
	expect(t, c, up, "example.com.", dns.TypeMX, ResultStale, DefaultStaleTTL, 4)
	clock.advance(time.Nanosecond)
	_, r, err := c.LookupResult(context.Background(), "example.com.", dns.TypeMX)
	if !errors.Is(err, errUpstream) || r != ResultError {
		t.Fatalf("after StaleFor: result %v, error %v; want %v wrapping %v", r, err, ResultError, errUpstream)
	}
	if got := up.count(); got != 4 {
		t.Errorf("upstream calls = %d, want 4: the failure 1ns ago should be remembered", got)
	}

	// The upstream recovers: a fresh answer replaces the stale one.
	up.fail(nil)
	clock.advance(DefaultFailureTTL)
	expect(t, c, up, "example.com.", dns.TypeMX, ResultMiss, time.Minute, 5)
	expect(t, c, up, "example.com.", dns.TypeMX, ResultHit, time.Minute, 5)
}

func TestServeStaleDisabled(t *testing.T) {
	up, clock := newUpstream(), newClock()
	up.set(mxAnswer("example.com.", time.Minute, "mx.example.com."))
	c := newCache(t, up, clock, Config{StaleFor: -1})
	expect(t, c, up, "example.com.", dns.TypeMX, ResultMiss, time.Minute, 1)
	clock.advance(time.Minute)
	up.fail(errUpstream)
	if _, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX); !errors.Is(err, errUpstream) {
		t.Fatalf("Lookup error = %v, want %v", err, errUpstream)
	}
}

func TestFailureRemembered(t *testing.T) {
	tests := []struct {
		name       string
		failureTTL time.Duration
		wantCalls  []int // upstream calls after each of 3 lookups: now, +29s, +30s
	}{
		{"default 30s", 0, []int{1, 1, 2}},
		{"5s", 5 * time.Second, []int{1, 2, 2}},
		{"disabled", -1, []int{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, clock := newUpstream(), newClock()
			up.fail(errUpstream)
			c := newCache(t, up, clock, Config{FailureTTL: tt.failureTTL})
			for i, step := range []time.Duration{0, 29 * time.Second, time.Second} {
				clock.advance(step)
				a, r, err := c.LookupResult(context.Background(), "down.example.", dns.TypeMX)
				if !errors.Is(err, errUpstream) || r != ResultError || a.Name != "" {
					t.Errorf("lookup %d: %+v, %v, %v; want no answer, %v, error wrapping %v", i, a, r, err, ResultError, errUpstream)
				}
				if got := up.count(); got != tt.wantCalls[i] {
					t.Errorf("lookup %d: upstream calls = %d, want %d", i, got, tt.wantCalls[i])
				}
			}
		})
	}
}

func TestFailureRcodeIsNotCachedAsAnswer(t *testing.T) {
	up, clock := newUpstream(), newClock()
	up.set(resolver.Answer{Name: "broken.example.", Qtype: dns.TypeMX, Rcode: dns.RcodeServerFailure, TTL: time.Hour})
	c := newCache(t, up, clock, Config{})
	for range 2 {
		if a, err := c.Lookup(context.Background(), "broken.example.", dns.TypeMX); err == nil {
			t.Fatalf("Lookup = %+v, nil error; want an error for a SERVFAIL answer", a)
		}
	}
	clock.advance(DefaultFailureTTL)
	if _, err := c.Lookup(context.Background(), "broken.example.", dns.TypeMX); err == nil {
		t.Fatal("Lookup after FailureTTL: nil error, want an error")
	}
	if got := up.count(); got != 2 {
		t.Errorf("upstream calls = %d, want 2", got)
	}
}

func TestBound(t *testing.T) {
	const max, names = 10, 200
	up, clock := newUpstream(), newClock()
	ans := mxAnswer("example.com.", time.Minute, "mx.example.com.")
	up.set(ans)
	// The heaviest entry: the longest name.
	one := weigh(key{name: "d100.example.", qtype: dns.TypeMX}, newEntry(ans, clock.Now(), &Config{}))
	c := newCache(t, up, clock, Config{MaxBytes: int64(max * one)})
	for i := range names {
		if _, err := c.Lookup(context.Background(), fmt.Sprintf("d%d.example.", i), dns.TypeMX); err != nil {
			t.Fatalf("Lookup: %v", err)
		}
	}
	c.entries.CleanUp()
	if got, bound := c.entries.WeightedSize(), uint64(max*one); got > bound {
		t.Errorf("weighted size = %d, want at most MaxBytes %d", got, bound)
	}
	if got := c.Len(); got > max+1 {
		t.Errorf("Len = %d, want about %d (MaxBytes over one entry's weight)", got, max)
	}
	for i := range names {
		if _, err := c.Lookup(context.Background(), fmt.Sprintf("d%d.example.", i), dns.TypeMX); err != nil {
			t.Fatalf("Lookup: %v", err)
		}
	}
	// All names are still fresh by the clock, so only evictions explain
	// upstream calls in the second round.
	if got, least := up.count(), 2*names-(max+1); got < least {
		t.Errorf("upstream calls = %d, want at least %d: entries beyond MaxBytes were not evicted", got, least)
	}
}

func TestRecordsAreShareableReadOnly(t *testing.T) {
	up, clock := newUpstream(), newClock()
	ans := mxAnswer("example.com.", time.Minute, "mx.example.com.")
	// Spare capacity, as a resolver building the slice with append leaves.
	ans.MX = append(make([]resolver.MX, 0, 4), resolver.MX{Preference: 10, Host: "mx.example.com."})
	up.set(ans)
	c := newCache(t, up, clock, Config{})
	a, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX)
	if err != nil {
		t.Fatal(err)
	}
	// Appending must not write into the cached array.
	_ = append(a.MX, resolver.MX{Host: "intruder."})
	b, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.MX) != 1 || cap(b.MX) != 1 || b.MX[0].Host != "mx.example.com." || b.Records != nil {
		t.Errorf("cached answer = %+v (cap %d), want the one original MX in compact form", b, cap(b.MX))
	}
}

func TestConfigValidation(t *testing.T) {
	up := newUpstream()
	bad := []Config{
		{MaxBytes: -1},
		{MaxTTL: -time.Second},
		{MinTTL: 2 * time.Hour},
		{MinTTL: time.Minute, NegativeMaxTTL: 30 * time.Second},
	}
	for _, cfg := range bad {
		if c, err := New(up, cfg); err == nil {
			c.Close()
			t.Errorf("New(%+v): nil error, want one", cfg)
		}
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New(nil upstream): nil error, want one")
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t)
	up := newUpstream()
	up.set(mxAnswer("example.com.", time.Minute, "mx.example.com."))
	// The real clock, so otter runs its periodic clean-up goroutine.
	c, err := New(up, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX); !errors.Is(err, ErrClosed) {
		t.Errorf("Lookup after Close: error %v, want %v", err, ErrClosed)
	}
}
