package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// rdata renders records without their headers, for comparisons.
func rdata(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = strings.TrimPrefix(rr.String(), rr.Header().String())
	}
	return out
}

func TestLookupPositive(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	tests := []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"example.com.", dns.TypeMX, []string{"10 mail1.example.com.", "20 mail2.example.com.", "20 mail3.example.com."}},
		{"mail1.example.com.", dns.TypeA, []string{"192.0.2.3", "192.0.2.1", "192.0.2.2"}},
		{"mail1.example.com.", dns.TypeAAAA, []string{"2001:db8::1"}},
		{"example.com.", dns.TypeNS, []string{"ns1.example.com."}},
		{"Mail1.EXAMPLE.com", dns.TypeAAAA, []string{"2001:db8::1"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.name, dns.Type(tt.qtype)), func(t *testing.T) {
			ans, err := c.Lookup(context.Background(), tt.name, tt.qtype)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if got := rdata(ans.Records); !slices.Equal(got, tt.want) {
				t.Errorf("records = %q, want %q", got, tt.want)
			}
			if want := dns.CanonicalName(tt.name); ans.Name != want {
				t.Errorf("Name = %q, want %q", ans.Name, want)
			}
			if ans.Qtype != tt.qtype || ans.Rcode != dns.RcodeSuccess || ans.NXDomain() || ans.NoData() {
				t.Errorf("Qtype %d Rcode %d NXDomain %v NoData %v, want %d NOERROR with data",
					ans.Qtype, ans.Rcode, ans.NXDomain(), ans.NoData(), tt.qtype)
			}
			if ans.Server != srv.Addr() || !ans.Authoritative || len(ans.CNAMEs) != 0 {
				t.Errorf("Server %q Authoritative %v CNAMEs %q, want %q true none",
					ans.Server, ans.Authoritative, ans.CNAMEs, srv.Addr())
			}
		})
	}
}

func TestLookupTTL(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	ans, err := c.Lookup(context.Background(), "example.com", dns.TypeMX)
	if err != nil {
		t.Fatal(err)
	}
	if ans.TTL != 300*time.Second {
		t.Errorf("TTL = %v, want 5m0s", ans.TTL)
	}
}

func TestLookupNegative(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	tests := []struct {
		name     string
		qtype    uint16
		nxdomain bool
		ttl      time.Duration
	}{
		// example.com's SOA: TTL 3600, MINIMUM 300 -> 300.
		{"nosuch.example.com.", dns.TypeMX, true, 300 * time.Second},
		{"mail2.example.com.", dns.TypeA, false, 300 * time.Second},
		{"mail2.example.com.", dns.TypeMX, false, 300 * time.Second},
		// An empty non-terminal exists: NODATA, not NXDOMAIN.
		{"ent.example.com.", dns.TypeA, false, 300 * time.Second},
		{"b.a.ent.example.com.", dns.TypeA, true, 300 * time.Second},
		// other.test's SOA: TTL 30, MINIMUM 600 -> 30.
		{"nosuch.other.test.", dns.TypeA, true, 30 * time.Second},
		{"mx.other.test.", dns.TypeMX, false, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.name, dns.Type(tt.qtype)), func(t *testing.T) {
			ans, err := c.Lookup(context.Background(), tt.name, tt.qtype)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if ans.NXDomain() != tt.nxdomain || ans.NoData() == tt.nxdomain {
				t.Errorf("NXDomain %v NoData %v (rcode %d), want NXDomain %v",
					ans.NXDomain(), ans.NoData(), ans.Rcode, tt.nxdomain)
			}
			if len(ans.Records) != 0 {
				t.Errorf("records = %v, want none", ans.Records)
			}
			if ans.TTL != tt.ttl {
				t.Errorf("TTL = %v, want %v", ans.TTL, tt.ttl)
			}
		})
	}
}

func TestLookupNegativeWithoutSOA(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	srv.Handle("bare.example.com.", 0, func(req *dns.Msg) *dns.Msg {
		r := new(dns.Msg)
		r.SetRcode(req, dns.RcodeNameError)
		return r
	})
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	ans, err := c.Lookup(context.Background(), "bare.example.com.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if !ans.NXDomain() || ans.TTL != resolver.DefaultNegativeTTL {
		t.Errorf("NXDomain %v TTL %v, want true %v", ans.NXDomain(), ans.TTL, resolver.DefaultNegativeTTL)
	}
}

func TestLookupTruncatedRetriesOverTCP(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	srv.SetTruncate("mail1.example.com.", true)
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	ans, err := c.Lookup(context.Background(), "mail1.example.com.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rdata(ans.Records), []string{"192.0.2.3", "192.0.2.1", "192.0.2.2"}; !slices.Equal(got, want) {
		t.Errorf("records = %q, want %q", got, want)
	}
	udp := srv.Queries("mail1.example.com.", dns.TypeA, dnstest.UDP)
	tcp := srv.Queries("mail1.example.com.", dns.TypeA, dnstest.TCP)
	if udp != 1 || tcp != 1 {
		t.Errorf("queries udp=%d tcp=%d, want 1 and 1", udp, tcp)
	}
}

// TestLookupLargeAnswer lets the server truncate for real: 100 addresses
// do not fit the 1232-byte EDNS0 buffer.
func TestLookupLargeAnswer(t *testing.T) {
	var zone strings.Builder
	var want []string
	for i := range 100 {
		// Not in numeric order, to see that the order is kept.
		addr := fmt.Sprintf("10.0.%d.%d", (i*37)%100, i)
		fmt.Fprintf(&zone, "big.example. 300 IN A %s\n", addr)
		want = append(want, addr)
	}
	srv := dnstest.NewServer(t, zone.String())
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	ans, err := c.Lookup(context.Background(), "big.example.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if got := rdata(ans.Records); !slices.Equal(got, want) {
		t.Errorf("records = %q, want %q", got, want)
	}
	if n := srv.Queries("big.example.", dns.TypeA, dnstest.TCP); n != 1 {
		t.Errorf("tcp queries = %d, want 1", n)
	}
}

func TestLookupFailover(t *testing.T) {
	tests := []struct {
		name   string
		break1 func(*dnstest.Server)
	}{
		{"servfail", func(s *dnstest.Server) { s.SetRcode(dnstest.Any, dns.RcodeServerFailure) }},
		{"refused", func(s *dnstest.Server) { s.SetRcode(dnstest.Any, dns.RcodeRefused) }},
		{"formerr", func(s *dnstest.Server) { s.SetRcode(dnstest.Any, dns.RcodeFormatError) }},
		{"wrong question", func(s *dnstest.Server) {
			s.Handle(dnstest.Any, 0, func(req *dns.Msg) *dns.Msg {
				r := new(dns.Msg)
				r.SetReply(req)
				r.Question[0].Name = "evil.example."
				return r
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := dnstest.NewServer(t, testZone)
			tt.break1(bad)
			good := dnstest.NewServer(t, testZone)
			c := newClient(t, resolver.Config{Servers: []string{bad.Addr(), good.Addr()}})
			ans, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if ans.Server != good.Addr() || len(ans.Records) != 3 {
				t.Errorf("Server %q with %d records, want %q with 3", ans.Server, len(ans.Records), good.Addr())
			}
			if n := bad.TotalQueries(); n != 1 {
				t.Errorf("first server got %d queries, want 1", n)
			}
		})
	}
}

func TestLookupFailoverFromDeadServer(t *testing.T) {
	good := dnstest.NewServer(t, testZone)
	c := newClient(t, resolver.Config{Servers: []string{deadAddr(t), good.Addr()}})
	ans, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if ans.Server != good.Addr() {
		t.Errorf("Server = %q, want %q", ans.Server, good.Addr())
	}
}

func TestLookupNXDOMAINIsFinal(t *testing.T) {
	first := dnstest.NewServer(t, testZone)
	second := dnstest.NewServer(t, testZone)
	c := newClient(t, resolver.Config{Servers: []string{first.Addr(), second.Addr()}})
	ans, err := c.Lookup(context.Background(), "nosuch.example.com.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if !ans.NXDomain() || second.TotalQueries() != 0 {
		t.Errorf("NXDomain %v, second server queries %d; want true, 0", ans.NXDomain(), second.TotalQueries())
	}
}

func TestLookupAllServersFail(t *testing.T) {
	s1 := dnstest.NewServer(t, testZone)
	s1.SetRcode(dnstest.Any, dns.RcodeRefused)
	s2 := dnstest.NewServer(t, testZone)
	s2.SetRcode(dnstest.Any, dns.RcodeServerFailure)
	c := newClient(t, resolver.Config{Servers: []string{s1.Addr(), s2.Addr()}})
	_, err := c.Lookup(context.Background(), "Example.COM", dns.TypeMX)
	if !errors.Is(err, resolver.ErrServFail) || !errors.Is(err, resolver.ErrRefused) {
		t.Fatalf("err = %v, want ErrServFail and ErrRefused", err)
	}
	for _, want := range []string{"lookup MX example.com. via " + s1.Addr(), "lookup MX example.com. via " + s2.Addr()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to contain %q", err, want)
		}
	}
}

func TestLookupSlowServersTimeOut(t *testing.T) {
	s1 := dnstest.NewServer(t, testZone)
	s1.SetDelay(dnstest.Any, time.Hour)
	s2 := dnstest.NewServer(t, testZone)
	s2.SetDelay(dnstest.Any, time.Hour)
	c := newClient(t, resolver.Config{
		Servers: []string{s1.Addr(), s2.Addr()},
		Timeout: time.Second,
		Budget:  1500 * time.Millisecond,
	})
	_, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX)
	if !errors.Is(err, resolver.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	// The budget left the second server some time (half a second, so that
	// a loaded machine's late timer still leaves it some): it was asked.
	if n := s2.TotalQueries(); n != 1 {
		t.Errorf("second server got %d queries, want 1", n)
	}
}

func TestLookupSlowFirstServer(t *testing.T) {
	slow := dnstest.NewServer(t, testZone)
	slow.SetDelay(dnstest.Any, time.Hour)
	good := dnstest.NewServer(t, testZone)
	c := newClient(t, resolver.Config{
		Servers: []string{slow.Addr(), good.Addr()},
		Timeout: 100 * time.Millisecond,
	})
	ans, err := c.Lookup(context.Background(), "example.com.", dns.TypeMX)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Server != good.Addr() {
		t.Errorf("Server = %q, want %q", ans.Server, good.Addr())
	}
}

func TestLookupContextDeadlineIsTimeout(t *testing.T) {
	slow := dnstest.NewServer(t, testZone)
	slow.SetDelay(dnstest.Any, time.Hour)
	c := newClient(t, resolver.Config{Servers: []string{slow.Addr()}, Timeout: time.Minute, Budget: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Lookup(ctx, "example.com.", dns.TypeMX)
	if !errors.Is(err, resolver.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout and context.DeadlineExceeded", err)
	}
}

func TestLookupContextCancel(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	arrived := make(chan struct{}, 1)
	srv.Handle(dnstest.Any, 0, func(*dns.Msg) *dns.Msg {
		arrived <- struct{}{}
		return nil // never answer
	})
	// Timeout and Budget are far beyond the watchdog below, so a lookup
	// that ignored cancellation could only end by tripping it.
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}, Timeout: time.Hour, Budget: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Lookup(ctx, "example.com.", dns.TypeMX)
		done <- err
	}()
	<-arrived
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, resolver.ErrTimeout) {
			t.Fatalf("err = %v, want context.Canceled and not ErrTimeout", err)
		}
	case <-time.After(30 * time.Second):
		// A liveness watchdog, not a performance bound: a lookup that
		// honours cancellation returns in microseconds.
		t.Fatal("Lookup still blocked 30s after its context was cancelled")
	}
}

func TestLookupCancelledBeforeStart(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Lookup(ctx, "example.com.", dns.TypeMX)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := srv.TotalQueries(); n != 0 {
		t.Errorf("server got %d queries, want 0", n)
	}
}

func TestLookupCNAME(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	tests := []struct {
		name    string
		qtype   uint16
		want    []string
		cnames  []string
		ttl     time.Duration
		queries int // sent to the server
	}{
		// The server sends the whole in-zone chain in one reply.
		{"www.example.com.", dns.TypeA, []string{"192.0.2.80"},
			[]string{"web.example.com.", "host.example.com."}, 120 * time.Second, 1},
		// The chain leaves the zone: the target is asked separately.
		{"away.example.com.", dns.TypeA, []string{"198.51.100.1"},
			[]string{"mx.other.test."}, 50 * time.Second, 2},
		// Asking for the CNAME itself does not follow it.
		{"www.example.com.", dns.TypeCNAME, []string{"web.example.com."}, nil, 120 * time.Second, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.name, dns.Type(tt.qtype)), func(t *testing.T) {
			srv.ResetCounts()
			ans, err := c.Lookup(context.Background(), tt.name, tt.qtype)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if got := rdata(ans.Records); !slices.Equal(got, tt.want) {
				t.Errorf("records = %q, want %q", got, tt.want)
			}
			if !slices.Equal(ans.CNAMEs, tt.cnames) {
				t.Errorf("CNAMEs = %q, want %q", ans.CNAMEs, tt.cnames)
			}
			if ans.TTL != tt.ttl {
				t.Errorf("TTL = %v, want %v", ans.TTL, tt.ttl)
			}
			if n := srv.TotalQueries(); n != tt.queries {
				t.Errorf("server got %d queries, want %d", n, tt.queries)
			}
			if ans.Name != tt.name {
				t.Errorf("Name = %q, want %q", ans.Name, tt.name)
			}
		})
	}
}

func TestLookupCNAMEToNothing(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	ans, err := c.Lookup(context.Background(), "dangling.example.com.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	// NXDOMAIN is about the chain's end; the TTL is the smaller of the
	// CNAME's 200 and the negative 300.
	if !ans.NXDomain() || !slices.Equal(ans.CNAMEs, []string{"missing.example.com."}) || ans.TTL != 200*time.Second {
		t.Errorf("NXDomain %v CNAMEs %q TTL %v, want true [missing.example.com.] 3m20s",
			ans.NXDomain(), ans.CNAMEs, ans.TTL)
	}
}

func TestLookupCNAMELoop(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	for _, name := range []string{"loop1.example.com.", "xloop.example.com."} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Lookup(context.Background(), name, dns.TypeA)
			if !errors.Is(err, resolver.ErrCNAMELoop) {
				t.Fatalf("err = %v, want ErrCNAMELoop", err)
			}
		})
	}
}

func TestLookupCNAMEChainTooLong(t *testing.T) {
	var zone strings.Builder
	for i := range 5 {
		// Each link in its own zone, so that every hop is a query.
		fmt.Fprintf(&zone, "c%d.test. 300 IN SOA ns. h. 1 1 1 1 60\n", i)
		fmt.Fprintf(&zone, "n.c%d.test. 300 IN CNAME n.c%d.test.\n", i, i+1)
	}
	zone.WriteString("n.c5.test. 300 IN A 192.0.2.5\n")
	srv := dnstest.NewServer(t, zone.String())

	short := newClient(t, resolver.Config{Servers: []string{srv.Addr()}, MaxCNAME: 4})
	if _, err := short.Lookup(context.Background(), "n.c0.test.", dns.TypeA); !errors.Is(err, resolver.ErrCNAMELoop) {
		t.Fatalf("MaxCNAME 4: err = %v, want ErrCNAMELoop", err)
	}
	long := newClient(t, resolver.Config{Servers: []string{srv.Addr()}, MaxCNAME: 5})
	ans, err := long.Lookup(context.Background(), "n.c0.test.", dns.TypeA)
	if err != nil {
		t.Fatalf("MaxCNAME 5: %v", err)
	}
	if len(ans.CNAMEs) != 5 || len(ans.Records) != 1 {
		t.Errorf("CNAMEs %q records %v, want 5 and 1", ans.CNAMEs, ans.Records)
	}
}

func TestLookupInvalidName(t *testing.T) {
	c := newClient(t, resolver.Config{Servers: []string{deadAddr(t)}})
	for _, name := range []string{"", "a..b", strings.Repeat("x", 64) + ".com"} {
		if _, err := c.Lookup(context.Background(), name, dns.TypeA); !errors.Is(err, resolver.ErrInvalidName) {
			t.Errorf("Lookup(%q): err = %v, want ErrInvalidName", name, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  resolver.Config
		is   error
	}{
		{"no servers", resolver.Config{}, resolver.ErrNoServers},
		{"no port", resolver.Config{Servers: []string{"127.0.0.1"}}, nil},
		{"tiny udp", resolver.Config{Servers: []string{"127.0.0.1:53"}, UDPSize: 100}, nil},
		{"negative timeout", resolver.Config{Servers: []string{"127.0.0.1:53"}, Timeout: -1}, nil},
		{"negative max fails", resolver.Config{Servers: []string{"127.0.0.1:53"}, MaxFails: -1}, nil},
		{"negative cooldown", resolver.Config{Servers: []string{"127.0.0.1:53"}, Cooldown: -1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolver.New(tt.cfg)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
		})
	}
}
