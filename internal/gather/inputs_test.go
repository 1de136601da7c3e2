package gather

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/cache"
	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/routing"
)

// fixedResolver answers every lookup of a two-MX domain from fixed data
// with the TTLs given, counting the lookups; with fail set, address
// lookups fail.
type fixedResolver struct {
	mu       sync.Mutex
	lookups  int
	fail     bool
	mxTTL    time.Duration
	addrTTL  time.Duration
	stale    bool
	mxTarget []string
}

func (r *fixedResolver) answer(name string, qtype uint16) (resolver.Answer, cache.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	res := cache.ResultHit
	if r.stale {
		res = cache.ResultStale
	}
	switch qtype {
	case dns.TypeMX:
		var rrs []dns.RR
		for _, h := range r.mxTarget {
			rrs = append(rrs, &dns.MX{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeMX, Class: dns.ClassINET}, Preference: 10, Mx: h + "."})
		}
		return resolver.Answer{Name: name, Qtype: qtype, Records: rrs, TTL: r.mxTTL}, res, nil
	case dns.TypeA:
		if r.fail {
			return resolver.Answer{}, cache.ResultError, context.DeadlineExceeded
		}
		rr := &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(192, 0, 2, byte(len(name)))}
		return resolver.Answer{Name: name, Qtype: qtype, Records: []dns.RR{rr}, TTL: r.addrTTL}, res, nil
	}
	return resolver.Answer{Name: name, Qtype: qtype, TTL: r.addrTTL}, res, nil
}

func (r *fixedResolver) LookupResult(_ context.Context, name string, qtype uint16) (resolver.Answer, cache.Result, error) {
	return r.answer(name, qtype)
}

func (r *fixedResolver) Peek(_ context.Context, name string, qtype uint16) (resolver.Answer, cache.Result, bool) {
	a, res, err := r.answer(name, qtype)
	return a, res, err == nil
}

func (r *fixedResolver) counts() (lookups int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups
}

// TestKeptInput: a second plan within the answers' TTL asks the resolver
// nothing, still shuffles per plan, and
// returns the TTL shrunk by the time passed; after the shortest TTL the
// data is gathered again.
func TestKeptInput(t *testing.T) {
	r := &fixedResolver{mxTTL: 300 * time.Second, addrTTL: 60 * time.Second, mxTarget: []string{"mx1.kept.test", "mx2.kept.test"}}
	now := time.Unix(1_000_000, 0)
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); defer clockMu.Unlock(); now = now.Add(d) }
	s, err := New(r, Config{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Domain: "kept.test"}
	p := s.Plan(t.Context(), req)
	if p.Disposition != routing.Deliver || p.TTL != 60*time.Second {
		t.Fatalf("first plan: %s ttl %v, want deliver ttl 60s", p.Disposition, p.TTL)
	}
	if l := r.counts(); l != 5 {
		t.Fatalf("after the first plan: %d lookups, want 5", l)
	}

	advance(20 * time.Second)
	firsts := map[string]bool{}
	for range 64 {
		p = s.Plan(t.Context(), req)
		firsts[p.Attempts[0].Host] = true
	}
	if l := r.counts(); l != 5 {
		t.Errorf("after 64 warm plans: %d lookups, want 5", l)
	}
	if p.TTL != 40*time.Second {
		t.Errorf("warm plan 20s later: ttl %v, want 40s", p.TTL)
	}
	if len(firsts) != 2 {
		t.Errorf("first hosts over 64 warm plans: %v, want both (the order must be shuffled per plan)", firsts)
	}

	advance(40 * time.Second)
	s.Plan(t.Context(), req)
	if l := r.counts(); l != 10 {
		t.Errorf("plan at the shortest TTL: %d lookups in all, want 10 (gathered again)", l)
	}
}

// TestInputNotKept: an input with a failed or stale lookup is gathered
// again on the next plan, and so is every input with MaxInputs < 0.
func TestInputNotKept(t *testing.T) {
	tests := []struct {
		name      string
		r         *fixedResolver
		maxInputs int
		// perPlan: MX, A, AAAA; a failed A is peeked, then looked up.
		perPlan int
	}{
		{"failure", &fixedResolver{fail: true, mxTTL: time.Minute, addrTTL: time.Minute, mxTarget: []string{"mx1.kept.test"}}, 0, 4},
		{"stale", &fixedResolver{stale: true, mxTTL: time.Minute, addrTTL: time.Minute, mxTarget: []string{"mx1.kept.test"}}, 0, 3},
		{"disabled", &fixedResolver{mxTTL: time.Minute, addrTTL: time.Minute, mxTarget: []string{"mx1.kept.test"}}, -1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.r, Config{MaxInputs: tt.maxInputs})
			if err != nil {
				t.Fatal(err)
			}
			s.Plan(t.Context(), Request{Domain: "kept.test"})
			s.Plan(t.Context(), Request{Domain: "kept.test"})
			if l := tt.r.counts(); l != 2*tt.perPlan {
				t.Errorf("two plans: %d lookups, want %d", l, 2*tt.perPlan)
			}
		})
	}
}

// TestInputCacheBounded: the kept inputs never exceed MaxInputs, and an
// expired input is not returned.
func TestInputCacheBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	c, err := newInputCache(16, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		c.put(inputKey{domain: string(rune('a'+i%26)) + string(rune('a'+i/26))}, &inputEntry{at: now, until: now.Add(time.Minute)})
		c.c.CleanUp()
		if n := c.len(); n > 16 {
			t.Fatalf("after %d inserts: %d entries, want at most 16", i+1, n)
		}
	}
	c.put(inputKey{domain: "late"}, &inputEntry{at: now, until: now.Add(time.Minute)})
	if _, ok := c.get(inputKey{domain: "late"}, now.Add(time.Minute)); ok {
		t.Error("an input read at its expiry was returned")
	}
}
