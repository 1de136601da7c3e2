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

// barrierResolver answers from fixed data and holds every address lookup
// until all of them have arrived: a plan only completes if its address
// lookups run in parallel, after the MX lookup.
type barrierResolver struct {
	mx      []string
	want    int
	mu      sync.Mutex
	arrived int
	mxDone  bool
	release chan struct{}
	t       *testing.T
}

func (r *barrierResolver) LookupResult(ctx context.Context, name string, qtype uint16) (resolver.Answer, cache.Result, error) {
	if qtype == dns.TypeMX {
		var rrs []dns.RR
		for _, h := range r.mx {
			rrs = append(rrs, &dns.MX{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 300}, Preference: 10, Mx: h + "."})
		}
		r.mu.Lock()
		r.mxDone = true
		r.mu.Unlock()
		return resolver.Answer{Name: name, Qtype: qtype, Records: rrs, TTL: 300 * time.Second}, cache.ResultMiss, nil
	}
	r.mu.Lock()
	if !r.mxDone {
		r.t.Errorf("address lookup for %s before the MX lookup finished", name)
	}
	r.arrived++
	if r.arrived == r.want {
		close(r.release)
	}
	r.mu.Unlock()
	select {
	case <-r.release:
	case <-time.After(10 * time.Second):
		r.t.Errorf("address lookups did not all start together (the planner waited for %s first)", name)
	}
	if qtype == dns.TypeAAAA {
		return resolver.Answer{Name: name, Qtype: qtype, TTL: 60 * time.Second}, cache.ResultMiss, nil
	}
	rr := &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, byte(len(name)))}
	return resolver.Answer{Name: name, Qtype: qtype, Records: []dns.RR{rr}, TTL: 300 * time.Second}, cache.ResultMiss, nil
}

// Peek finds nothing: every lookup in these tests is a miss.
func (r *barrierResolver) Peek(context.Context, string, uint16) (resolver.Answer, cache.Result, bool) {
	return resolver.Answer{}, cache.ResultMiss, false
}

func (r *countingResolver) Peek(context.Context, string, uint16) (resolver.Answer, cache.Result, bool) {
	return resolver.Answer{}, cache.ResultMiss, false
}

// TestColdPlanTwoRoundTrips: the MX lookup, then every address lookup of
// every target at once; with DANE, every TLSA lookup in the same round.
func TestColdPlanTwoRoundTrips(t *testing.T) {
	hosts := []string{"a.example.com", "bb.example.com", "ccc.example.com", "dddd.example.com"}
	for _, dane := range []bool{false, true} {
		want := 2 * len(hosts)
		if dane {
			want = 3 * len(hosts)
		}
		r := &barrierResolver{mx: hosts, want: want, release: make(chan struct{}), t: t}
		s, err := New(r, Config{DANE: dane})
		if err != nil {
			t.Fatal(err)
		}
		p := s.Plan(context.Background(), Request{Domain: "example.com"})
		if p.Disposition != routing.Deliver || len(p.Attempts) != 4 || r.arrived != want {
			t.Errorf("DANE %v: plan = %s with %d attempts after %d host lookups, want deliver to 4 addresses after %d", dane, p.Disposition, len(p.Attempts), r.arrived, want)
		}
	}
}

// slowResolver never answers address lookups before its context ends.
type slowResolver struct{ barrierResolver }

func (r *slowResolver) LookupResult(ctx context.Context, name string, qtype uint16) (resolver.Answer, cache.Result, error) {
	if qtype == dns.TypeMX {
		return r.barrierResolver.LookupResult(ctx, name, qtype)
	}
	<-ctx.Done()
	return resolver.Answer{}, cache.ResultError, ctx.Err()
}

// TestPlanBudget: a plan whose lookups outlast the budget is a temporary
// failure, not a hung request.
func TestPlanBudget(t *testing.T) {
	r := &slowResolver{barrierResolver{mx: []string{"a.example.com"}, t: t}}
	s, err := New(r, Config{Budget: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Plan(context.Background(), Request{Domain: "example.com"})
	if p.Disposition != routing.TemporaryFailure || p.Reason != routing.ReasonDNSError {
		t.Errorf("plan = %s %s, want temporary_failure dns_error", p.Disposition, p.Reason)
	}
}

// TestManyTargetsBounded: hundreds of MX targets are all looked up, never
// more than maxParallelLookups at once.
func TestManyTargetsBounded(t *testing.T) {
	var hosts []string
	for i := range 200 {
		hosts = append(hosts, "mx"+string(rune('a'+i%26))+string(rune('a'+i/26))+".example.com")
	}
	r := &countingResolver{mx: hosts}
	s, err := New(r, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s.Plan(context.Background(), Request{Domain: "example.com", Family: routing.FamilyIPv4})
	if r.calls != 200 || r.max > maxParallelLookups {
		t.Errorf("%d address lookups, at most %d at once; want 200, at most %d", r.calls, r.max, maxParallelLookups)
	}
}

type countingResolver struct {
	mx              []string
	mu              sync.Mutex
	calls, now, max int
}

func (r *countingResolver) LookupResult(ctx context.Context, name string, qtype uint16) (resolver.Answer, cache.Result, error) {
	if qtype == dns.TypeMX {
		b := barrierResolver{mx: r.mx}
		return b.LookupResult(ctx, name, qtype)
	}
	r.mu.Lock()
	r.calls++
	r.now++
	r.max = max(r.max, r.now)
	r.mu.Unlock()
	time.Sleep(time.Millisecond)
	r.mu.Lock()
	r.now--
	r.mu.Unlock()
	return resolver.Answer{Name: name, Qtype: qtype, TTL: time.Minute}, cache.ResultMiss, nil
}
