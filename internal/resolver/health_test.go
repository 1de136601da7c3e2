package resolver_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// fakeClock is Config.Now under the test's control.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// lookupVia runs an MX lookup of example.com and checks which server
// answered.
func lookupVia(t *testing.T, c *resolver.Client, want *dnstest.Server) {
	t.Helper()
	ans, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if ans.Server != want.Addr() {
		t.Fatalf("answered by %s, want %s", ans.Server, want.Addr())
	}
}

// healthOf returns the health of the server at addr.
func healthOf(t *testing.T, c *resolver.Client, addr string) resolver.ServerHealth {
	t.Helper()
	for _, h := range c.Health() {
		if h.Server == addr {
			return h
		}
	}
	t.Fatalf("no health for %s in %+v", addr, c.Health())
	return resolver.ServerHealth{}
}

func TestHealthDemotesFailingServer(t *testing.T) {
	tests := []struct {
		name    string
		brk     func(*dnstest.Server)
		fix     func(*dnstest.Server) // nil: still broken after the cool-down
		wantErr error                 // nil: any error
	}{
		{"servfail", func(s *dnstest.Server) { s.SetRcode(dnstest.Any, dns.RcodeServerFailure) },
			func(s *dnstest.Server) { s.SetRcode(dnstest.Any, dns.RcodeSuccess) }, resolver.ErrServFail},
		{"refused", func(s *dnstest.Server) { s.SetRcode(dnstest.Any, dns.RcodeRefused) },
			func(s *dnstest.Server) { s.SetRcode(dnstest.Any, dns.RcodeSuccess) }, resolver.ErrRefused},
		{"timeout", func(s *dnstest.Server) { s.SetDelay(dnstest.Any, time.Hour) },
			func(s *dnstest.Server) { s.SetDelay(dnstest.Any, 0) }, resolver.ErrTimeout},
		{"servfail, still broken", func(s *dnstest.Server) { s.SetRcode(dnstest.Any, dns.RcodeServerFailure) },
			nil, resolver.ErrServFail},
		{"closed", (*dnstest.Server).Close, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := dnstest.NewServer(t, testZone)
			second := dnstest.NewServer(t, testZone)
			clk := newFakeClock()
			c := newClient(t, resolver.Config{
				Servers: []string{first.Addr(), second.Addr()},
				Timeout: 100 * time.Millisecond,
				Now:     clk.Now,
			})
			tt.brk(first)

			// Two failures in a row (DefaultMaxFails) demote it.
			lookupVia(t, c, second)
			if h := healthOf(t, c, first.Addr()); h.Failing || h.ConsecutiveFailures != 1 {
				t.Errorf("after one failure: %+v, want not failing, 1 failure", h)
			}
			lookupVia(t, c, second)
			h := healthOf(t, c, first.Addr())
			if !h.Failing || h.ConsecutiveFailures != 2 || h.LastError == nil || !h.LastFailure.Equal(clk.Now()) {
				t.Errorf("after two failures: %+v, want failing, 2 failures, an error at %v", h, clk.Now())
			}
			if tt.wantErr != nil && !errors.Is(h.LastError, tt.wantErr) {
				t.Errorf("LastError = %v, want %v", h.LastError, tt.wantErr)
			}
			if h := healthOf(t, c, second.Addr()); h.Failing || h.ConsecutiveFailures != 0 || h.LastError != nil {
				t.Errorf("second server: %+v, want healthy and never failed", h)
			}

			// During the cool-down the first server is not asked at all.
			first.ResetCounts()
			for range 3 {
				lookupVia(t, c, second)
				clk.Advance(resolver.DefaultCooldown / 4)
			}
			clk.Advance(resolver.DefaultCooldown/4 - time.Nanosecond)
			lookupVia(t, c, second)
			if n := first.TotalQueries(); n != 0 {
				t.Errorf("first server got %d queries during the cool-down, want 0", n)
			}
			if h := healthOf(t, c, first.Addr()); !h.Failing || h.ConsecutiveFailures != 2 {
				t.Errorf("during the cool-down: %+v, want still failing with 2 failures", h)
			}

			// Once it is over, one lookup tries it in its place again.
			clk.Advance(time.Nanosecond)
			if tt.fix == nil {
				lookupVia(t, c, second)
				if h := healthOf(t, c, first.Addr()); !h.Failing || h.ConsecutiveFailures != 3 {
					t.Errorf("after a failed retry: %+v, want failing with 3 failures", h)
				}
				// The failed retry starts another cool-down.
				lookupVia(t, c, second)
				if h := healthOf(t, c, first.Addr()); h.ConsecutiveFailures != 3 {
					t.Errorf("after the failed retry: %+v, want it not asked again (3 failures)", h)
				}
				if tt.name != "closed" {
					if n := first.TotalQueries(); n != 1 {
						t.Errorf("first server got %d queries after the cool-down, want 1 (the retry)", n)
					}
				}
				return
			}
			tt.fix(first)
			second.ResetCounts()
			lookupVia(t, c, first)
			h = healthOf(t, c, first.Addr())
			if h.Failing || h.ConsecutiveFailures != 0 {
				t.Errorf("after a successful retry: %+v, want healthy", h)
			}
			if h.LastError == nil {
				t.Error("LastError forgotten on recovery, want it kept")
			}
			// Restored to first place.
			lookupVia(t, c, first)
			if n := second.TotalQueries(); n != 0 {
				t.Errorf("second server got %d queries after the first recovered, want 0", n)
			}
		})
	}
}

// TestHealthAllFailing checks that servers are never skipped: when every
// one is failing, each is still tried, in configured order.
func TestHealthAllFailing(t *testing.T) {
	var srvs []*dnstest.Server
	var addrs []string
	for range 3 {
		s := dnstest.NewServer(t, testZone)
		s.SetRcode(dnstest.Any, dns.RcodeServerFailure)
		srvs = append(srvs, s)
		addrs = append(addrs, s.Addr())
	}
	clk := newFakeClock()
	c := newClient(t, resolver.Config{Servers: addrs, Now: clk.Now})
	for i := range 3 {
		_, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX)
		if !errors.Is(err, resolver.ErrServFail) {
			t.Fatalf("lookup %d: err = %v, want ErrServFail", i, err)
		}
		// Errors are joined in the order the servers were asked.
		msg := err.Error()
		i0, i1, i2 := strings.Index(msg, addrs[0]), strings.Index(msg, addrs[1]), strings.Index(msg, addrs[2])
		if i0 < 0 || i1 < i0 || i2 < i1 {
			t.Errorf("lookup %d: err = %q, want every server in configured order", i, msg)
		}
	}
	for i, s := range srvs {
		if n := s.TotalQueries(); n != 3 {
			t.Errorf("server %d got %d queries, want 3", i, n)
		}
	}
	for _, h := range c.Health() {
		if !h.Failing {
			t.Errorf("%+v, want failing", h)
		}
	}

	// The second comes back while all are failing: the first is still
	// asked before it, the third no more.
	srvs[1].SetRcode(dnstest.Any, dns.RcodeSuccess)
	for _, s := range srvs {
		s.ResetCounts()
	}
	lookupVia(t, c, srvs[1])
	if got := []int{srvs[0].TotalQueries(), srvs[1].TotalQueries(), srvs[2].TotalQueries()}; got[0] != 1 || got[1] != 1 || got[2] != 0 {
		t.Errorf("queries = %v, want [1 1 0]", got)
	}
	// Now it alone is healthy and goes first.
	lookupVia(t, c, srvs[1])
	if n0, n2 := srvs[0].TotalQueries(), srvs[2].TotalQueries(); n0 != 1 || n2 != 0 {
		t.Errorf("failing servers got %d and %d more queries, want none", n0-1, n2)
	}
}

// TestHealthOneRetryAtATime checks that when a failing server's cool-down
// ends, a single lookup retries it while the others keep going to the
// healthy server.
func TestHealthOneRetryAtATime(t *testing.T) {
	first := dnstest.NewServer(t, testZone)
	second := dnstest.NewServer(t, testZone)
	clk := newFakeClock()
	c := newClient(t, resolver.Config{Servers: []string{first.Addr(), second.Addr()}, Now: clk.Now})
	first.SetRcode(dnstest.Any, dns.RcodeServerFailure)
	lookupVia(t, c, second)
	lookupVia(t, c, second)
	clk.Advance(resolver.DefaultCooldown)

	// The retry is held at the server until the test lets it go.
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	first.Handle(dnstest.Any, 0, func(req *dns.Msg) *dns.Msg {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
		r := new(dns.Msg)
		r.SetRcode(req, dns.RcodeServerFailure)
		return r
	})
	first.ResetCounts()
	retried := make(chan error, 1)
	go func() {
		ans, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX)
		if err == nil && ans.Server != second.Addr() {
			err = errors.New("answered by " + ans.Server)
		}
		retried <- err
	}()
	<-arrived
	for range 3 {
		lookupVia(t, c, second)
	}
	if n := first.TotalQueries(); n != 1 {
		t.Errorf("first server got %d queries while one retry was in flight, want 1", n)
	}
	close(release)
	if err := <-retried; err != nil {
		t.Errorf("retrying lookup: %v", err)
	}
	if h := healthOf(t, c, first.Addr()); !h.Failing || h.ConsecutiveFailures != 3 {
		t.Errorf("after the failed retry: %+v, want failing with 3 failures", h)
	}
}

// TestHealthIgnoresLookupDeadline checks that a query cut short by the
// lookup's own context is not held against the server.
func TestHealthIgnoresLookupDeadline(t *testing.T) {
	tests := []struct {
		name   string
		budget time.Duration
		ctx    func(arrived <-chan struct{}) context.Context
	}{
		{"cancelled", time.Hour, func(arrived <-chan struct{}) context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-arrived; cancel() }()
			return ctx
		}},
		{"budget", 50 * time.Millisecond, func(<-chan struct{}) context.Context { return context.Background() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := dnstest.NewServer(t, testZone)
			arrived := make(chan struct{}, 1)
			srv.Handle(dnstest.Any, 0, func(*dns.Msg) *dns.Msg {
				select {
				case arrived <- struct{}{}:
				default:
				}
				return nil // never answer
			})
			c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}, Timeout: time.Hour, Budget: tt.budget})
			for range 3 {
				if _, err := c.Lookup(tt.ctx(arrived), "example.com.", dns.TypeMX); err == nil {
					t.Fatal("Lookup succeeded, want an error")
				}
			}
			if h := healthOf(t, c, srv.Addr()); h.Failing || h.ConsecutiveFailures != 0 || h.LastError != nil {
				t.Errorf("%+v, want no failure counted", h)
			}
		})
	}
}

// TestHealthMaxFails checks the threshold setting and that a negative
// answer is a success.
func TestHealthMaxFails(t *testing.T) {
	first := dnstest.NewServer(t, testZone)
	second := dnstest.NewServer(t, testZone)
	clk := newFakeClock()
	c := newClient(t, resolver.Config{
		Servers:  []string{first.Addr(), second.Addr()},
		MaxFails: 3,
		Cooldown: time.Minute,
		Now:      clk.Now,
	})
	first.SetRcode(dnstest.Any, dns.RcodeRefused)
	lookupVia(t, c, second)
	lookupVia(t, c, second)
	if h := healthOf(t, c, first.Addr()); h.Failing || h.ConsecutiveFailures != 2 {
		t.Errorf("after two failures with MaxFails 3: %+v, want not failing", h)
	}
	first.SetRcode(dnstest.Any, dns.RcodeSuccess)
	ans, err := c.Lookup(context.Background(), "nosuch.example.com.", dns.TypeMX)
	if err != nil || !ans.NXDomain() || ans.Server != first.Addr() {
		t.Fatalf("Lookup: %+v %v, want NXDOMAIN from the first server", ans, err)
	}
	if h := healthOf(t, c, first.Addr()); h.ConsecutiveFailures != 0 {
		t.Errorf("after NXDOMAIN: %+v, want the count reset", h)
	}

	first.SetRcode(dnstest.Any, dns.RcodeRefused)
	for range 3 {
		lookupVia(t, c, second)
	}
	first.SetRcode(dnstest.Any, dns.RcodeSuccess)
	first.ResetCounts()
	clk.Advance(time.Minute - time.Nanosecond)
	lookupVia(t, c, second)
	clk.Advance(time.Nanosecond)
	lookupVia(t, c, first)
	if n := first.TotalQueries(); n != 1 {
		t.Errorf("first server got %d queries, want 1 (after its one-minute cool-down)", n)
	}
}

// TestHealthLeavesExchangeAlone checks that direct queries, to whatever
// server, do not touch the upstreams' health.
func TestHealthLeavesExchangeAlone(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	srv.SetRcode(dnstest.Any, dns.RcodeServerFailure)
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeMX)
	for range 3 {
		if _, err := c.Exchange(context.Background(), srv.Addr(), m); err != nil {
			t.Fatal(err)
		}
	}
	if h := healthOf(t, c, srv.Addr()); h.ConsecutiveFailures != 0 {
		t.Errorf("%+v, want no failure counted", h)
	}
}
