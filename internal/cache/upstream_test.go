package cache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
)

// errUpstream stands for the resolver's SERVFAIL and timeout errors.
var errUpstream = errors.New("upstream: servfail")

// countingUpstream is an Upstream whose answers, failures and pace the test
// controls, and which counts the lookups that reach it.
type countingUpstream struct {
	mu      sync.Mutex
	answers map[key]resolver.Answer
	err     error
	gate    chan struct{}
	calls   int
	ctxErrs []error
}

func newUpstream() *countingUpstream {
	return &countingUpstream{answers: make(map[key]resolver.Answer)}
}

// Lookup answers from u.answers (NXDOMAIN with a 60s SOA TTL when absent),
// or fails with u.err. While u.gate is set it first waits for the gate to
// close or ctx to end, so tests can hold lookups in flight.
func (u *countingUpstream) Lookup(ctx context.Context, name string, qtype uint16) (resolver.Answer, error) {
	u.mu.Lock()
	u.calls++
	gate := u.gate
	u.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ctxErrs = append(u.ctxErrs, ctx.Err())
	if err := ctx.Err(); err != nil {
		return resolver.Answer{}, fmt.Errorf("lookup %s: %w", name, err)
	}
	if u.err != nil {
		return resolver.Answer{}, fmt.Errorf("lookup %s: %w", name, u.err)
	}
	a, ok := u.answers[key{name: name, qtype: qtype}]
	if !ok {
		return resolver.Answer{Name: name, Qtype: qtype, Rcode: dns.RcodeNameError, TTL: time.Minute, Server: "test"}, nil
	}
	return a, nil
}

func (u *countingUpstream) set(a resolver.Answer) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.answers[key{name: a.Name, qtype: a.Qtype}] = a
}

func (u *countingUpstream) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.err = err
}

func (u *countingUpstream) hold() chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gate = make(chan struct{})
	return u.gate
}

func (u *countingUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// mxAnswer is a positive MX answer for name with one record per host.
func mxAnswer(name string, ttl time.Duration, hosts ...string) resolver.Answer {
	a := resolver.Answer{Name: name, Qtype: dns.TypeMX, Rcode: dns.RcodeSuccess, TTL: ttl, Server: "test"}
	for i, h := range hosts {
		a.Records = append(a.Records, &dns.MX{
			Hdr:        dns.RR_Header{Name: name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: uint32(ttl / time.Second)},
			Preference: uint16(10 * (i + 1)),
			Mx:         h,
		})
	}
	return a
}

// fakeClock is a Config.Now the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newCache builds a Cache on up and clock, closed when the test ends.
func newCache(t testing.TB, up Upstream, clock *fakeClock, cfg Config) *Cache {
	t.Helper()
	if clock != nil {
		cfg.Now = clock.Now
	}
	c, err := New(up, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// settle waits for the upstream lookups in flight, background refreshes
// included, to land and update the cache.
func settle(c *Cache) {
	c.mu.Lock()
	flights := slices.Collect(maps.Values(c.flights))
	c.mu.Unlock()
	for _, f := range flights {
		<-f.done
	}
}

// expect looks name up and checks the result, the TTL and how many lookups
// reached the upstream so far.
func expect(t *testing.T, c *Cache, up *countingUpstream, name string, qtype uint16, wantResult Result, wantTTL time.Duration, wantCalls int) resolver.Answer {
	t.Helper()
	a, r, err := c.LookupResult(context.Background(), name, qtype)
	if err != nil {
		t.Fatalf("LookupResult(%s): %v", name, err)
	}
	if r != wantResult {
		t.Errorf("LookupResult(%s) result = %v, want %v", name, r, wantResult)
	}
	if a.TTL != wantTTL {
		t.Errorf("LookupResult(%s) TTL = %v, want %v", name, a.TTL, wantTTL)
	}
	if got := up.count(); got != wantCalls {
		t.Errorf("after LookupResult(%s): upstream calls = %d, want %d", name, got, wantCalls)
	}
	return a
}
