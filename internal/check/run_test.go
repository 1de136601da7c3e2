package check

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
	"github.com/mxroute/mxroute/internal/routing"
)

// zoneHead is the apex of example.com with one name server at 127.0.0.1;
// tests map it to a dnstest port with Options.NSAddr.
const zoneHead = `
example.com.     3600 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 300
example.com.     3600 IN NS  ns1.example.com.
ns1.example.com. 3600 IN A   127.0.0.1
16.172.in-addr.arpa. 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 300
`

// seedReverse names each seed address after its own MX host.
const seedReverse = `
1.10.16.172.in-addr.arpa. 3600 IN PTR mail1.example.com.
2.10.16.172.in-addr.arpa. 3600 IN PTR mail2.example.com.
`

// seedZone returns one of the seed document's layouts as it writes them
// (TTL 1200), with reverse DNS.
func seedZone(name string) string {
	return map[string]string{
		"seed1": zoneHead + seedReverse + `
example.com.       1200 IN MX 10 mail1.example.com.
example.com.       1200 IN MX 10 mail2.example.com.
mail1.example.com. 1200 IN A 172.16.10.1
mail2.example.com. 1200 IN A 172.16.10.2
`,
		"seed2": zoneHead + `
1.10.16.172.in-addr.arpa. 3600 IN PTR mail.example.com.
2.10.16.172.in-addr.arpa. 3600 IN PTR mail.example.com.
example.com.      1200 IN MX 10 mail.example.com.
mail.example.com. 1200 IN A 172.16.10.1
mail.example.com. 1200 IN A 172.16.10.2
`,
		"seed3": zoneHead + seedReverse + `
example.com.       1200 IN MX 10 mail1.example.com.
example.com.       1200 IN MX 10 mail2.example.com.
mail1.example.com. 1200 IN A 172.16.10.1
mail1.example.com. 1200 IN A 172.16.10.2
mail2.example.com. 1200 IN A 172.16.10.1
mail2.example.com. 1200 IN A 172.16.10.2
`,
		"seed4": zoneHead + seedReverse + `
example.com.       1200 IN MX 10 mail1.example.com.
example.com.       1200 IN MX 10 mail2.example.com.
example.com.       1200 IN MX 20 mail3.example.com.
example.com.       1200 IN MX 30 mail4.example.com.
mail1.example.com. 1200 IN A 172.16.10.1
mail2.example.com. 1200 IN A 172.16.10.2
mail3.example.com. 1200 IN A 172.16.10.1
mail4.example.com. 1200 IN A 172.16.10.2
`,
	}[name]
}

// env is one dnstest server acting as the recursive resolver and, through
// NSAddr, as every authoritative server unless a test maps names elsewhere.
type env struct {
	srv  *dnstest.Server
	res  *resolver.Client
	opts Options
}

func newEnv(t *testing.T, zone string) *env { return newEnvTB(t, zone) }

func newEnvTB(t testing.TB, zone string) *env {
	t.Helper()
	srv := dnstest.NewServer(t, zone)
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr()}})
	if err != nil {
		t.Fatalf("resolver: %v", err)
	}
	return &env{srv: srv, res: res, opts: Options{
		NSAddr: func(string, netip.Addr) string { return srv.Addr() },
		// Test zones put their name servers on loopback.
		NeverDial: func(a netip.Addr) bool { return !a.Unmap().IsLoopback() && routing.NeverDial(a) },
	}}
}

func (e *env) run(t *testing.T, domain string) Report {
	t.Helper()
	r, err := Run(context.Background(), e.res, domain, e.opts)
	if err != nil {
		t.Fatalf("Run(%s): %v", domain, err)
	}
	checkInvariants(t, r)
	if t.Failed() {
		t.Logf("report: %s", findingCodes(r))
	}
	return r
}

func wantCodes(t *testing.T, r Report, want ...string) {
	t.Helper()
	if got := findingCodes(r); !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
		for _, f := range r.Findings {
			t.Logf("%s %s: %s", f.Level, f.Code, f.Message)
		}
	}
}

func TestRunSeedLayouts(t *testing.T) {
	const (
		dup     = "DUPLICATE_ADDRESS/notice"
		same    = "SAME_PREFIX/notice"
		private = "MX_PRIVATE_ADDRESS/notice"
		ttl     = "MX_TTL_LOW/notice"
	)
	cases := []struct {
		layout    string
		balancing Balancing
		hosts     int
		codes     []string
	}{
		{"seed1", BalancingStrong, 2, []string{same, private, ttl}},
		{"seed2", BalancingWeak, 1, []string{same, private, ttl}},
		{"seed3", BalancingWeak, 2, []string{dup, same, private, ttl}},
		{"seed4", BalancingStrong, 4, []string{dup, same, private, ttl}},
	}
	for _, c := range cases {
		t.Run(c.layout, func(t *testing.T) {
			e := newEnv(t, seedZone(c.layout))
			r := e.run(t, "example.com")
			if r.Status != StatusPass || r.Grade != GradeB || r.LoadBalancing != c.balancing {
				t.Errorf("status %s grade %s balancing %s, want pass B %s", r.Status, r.Grade, r.LoadBalancing, c.balancing)
			}
			f := r.Failover
			if f.Class != FailoverLocal || f.UniquePrefixes != 1 || f.EffectiveDepth != 2 ||
				!slices.Equal(f.UniqueAddresses, []string{"172.16.10.1", "172.16.10.2"}) {
				t.Errorf("failover %+v, want local, 1 prefix, depth 2, 172.16.10.1 then .2", f)
			}
			if len(r.MX) != c.hosts {
				t.Errorf("%d MX entries, want %d", len(r.MX), c.hosts)
			}
			for _, m := range r.MX {
				if m.TTL != 1200 || len(m.PTR) != len(m.Addresses) {
					t.Errorf("mx %+v: want TTL 1200 and a PTR entry per address", m)
				}
				for _, p := range m.PTR {
					if !p.ForwardConfirmed {
						t.Errorf("mx %s: PTR %+v not forward-confirmed", m.Host, p)
					}
				}
			}
			wantCodes(t, r, c.codes...)
			// The forward confirmation of a PTR name that is also an MX
			// target reuses the target's lookup.
			if n := e.srv.Queries("mail1.example.com.", dns.TypeA, ""); c.layout != "seed2" && n != 1 {
				t.Errorf("%d A queries for mail1.example.com, want 1", n)
			}
		})
	}
}

func TestRunDiverseGradeA(t *testing.T) {
	e := newEnv(t, zoneHead+`
example.com.   3600 IN MX 10 a.example.com.
example.com.   3600 IN MX 10 b.example.com.
a.example.com. 3600 IN A    192.0.2.1
b.example.com. 3600 IN AAAA 2001:db8:2::1
1.2.0.192.in-addr.arpa. 3600 IN PTR a.example.com.
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 3600 IN PTR b.example.com.
`)
	r := e.run(t, "example.com")
	if r.Grade != GradeA || r.LoadBalancing != BalancingStrong || r.Failover.Class != FailoverDiverse {
		t.Errorf("grade %s balancing %s failover %s, want A strong diverse", r.Grade, r.LoadBalancing, r.Failover.Class)
	}
	wantCodes(t, r)
	if !strings.HasPrefix(r.Recommendation, "No change needed") {
		t.Errorf("recommendation %q", r.Recommendation)
	}
}

func TestRunProblems(t *testing.T) {
	e := newEnv(t, zoneHead+`
example.com.       3600 IN MX 10 alias.example.com.
example.com.       3600 IN MX 20 mail5.example.com.
example.com.       3600 IN MX 30 mail6.example.com.
example.com.       3600 IN MX 40 gone.example.com.
alias.example.com. 3600 IN CNAME mail1.example.com.
mail1.example.com. 3600 IN A 198.51.100.1
mail5.example.com. 3600 IN A 192.0.2.5
mail6.example.com. 3600 IN A 198.51.100.6
other.example.com. 3600 IN A 198.51.100.99
1.100.51.198.in-addr.arpa. 3600 IN PTR mail1.example.com.
6.100.51.198.in-addr.arpa. 3600 IN PTR other.example.com.
`)
	r := e.run(t, "example.com")
	wantCodes(t, r, "MX_TARGET_UNRESOLVABLE/warning", "MX_TARGET_CNAME/warning", "FCRDNS_FAIL/notice", "PTR_MISSING/notice")
	if f, _ := findingOf(r, CodeTargetCNAME); !strings.Contains(f.Message, "alias.example.com -> mail1.example.com") {
		t.Errorf("CNAME message %q", f.Message)
	}
	if f, _ := findingOf(r, CodeFCrDNSFail); !slices.Equal(f.Addresses, []string{"198.51.100.6"}) || !slices.Equal(f.Hosts, []string{"other.example.com"}) {
		t.Errorf("FCRDNS_FAIL %+v", f)
	}
	if f, _ := findingOf(r, CodePTRMissing); !slices.Equal(f.Addresses, []string{"192.0.2.5"}) {
		t.Errorf("PTR_MISSING %+v", f)
	}
	if f, _ := findingOf(r, CodeTargetUnresolvable); !slices.Equal(f.Hosts, []string{"gone.example.com"}) || !strings.Contains(f.Message, "NXDOMAIN") {
		t.Errorf("MX_TARGET_UNRESOLVABLE %+v", f)
	}
}

func TestRunErrors(t *testing.T) {
	t.Run("target is an IP, other unroutable", func(t *testing.T) {
		e := newEnv(t, zoneHead+`
example.com.      3600 IN MX 10 192.0.2.9.
example.com.      3600 IN MX 20 mail.example.com.
mail.example.com. 3600 IN A 127.0.0.1
`)
		r := e.run(t, "example.com")
		wantCodes(t, r, "MX_TARGET_IS_IP/error", "MX_UNROUTABLE_ADDRESS/error")
		if e.srv.Queries("192.0.2.9.", 0, "") != 0 {
			t.Error("an IP target was looked up as a name")
		}
	})
	t.Run("null MX with others", func(t *testing.T) {
		e := newEnv(t, zoneHead+`
example.com.      3600 IN MX 0 .
example.com.      3600 IN MX 10 mail.example.com.
mail.example.com. 3600 IN A 192.0.2.1
`)
		r := e.run(t, "example.com")
		wantCodes(t, r, "NULL_MX_WITH_OTHERS/error", "SINGLE_ADDRESS/warning", "PTR_MISSING/notice")
	})
	t.Run("NXDOMAIN", func(t *testing.T) {
		e := newEnv(t, zoneHead)
		r := e.run(t, "nope.example.com")
		wantCodes(t, r, "MX_LOOKUP_FAILED/error")
		if len(r.MX) != 0 || r.Failover.Class != FailoverNone {
			t.Errorf("mx %v failover %+v", r.MX, r.Failover)
		}
	})
	t.Run("SERVFAIL", func(t *testing.T) {
		e := newEnv(t, zoneHead)
		e.srv.SetRcode("example.com.", dns.RcodeServerFailure)
		r := e.run(t, "example.com")
		wantCodes(t, r, "MX_LOOKUP_FAILED/error", "CONSISTENCY_UNCHECKED/info")
		if f := r.Findings[0]; !strings.Contains(f.Message, "SERVFAIL") {
			t.Errorf("message %q", f.Message)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		e := newEnv(t, zoneHead)
		e.srv.SetDelay("example.com.", time.Minute)
		e.opts.Budget = 300 * time.Millisecond
		r := e.run(t, "example.com")
		wantCodes(t, r, "MX_LOOKUP_FAILED/error", "CONSISTENCY_UNCHECKED/info")
		if f := r.Findings[0]; !strings.Contains(f.Message, "timeout") {
			t.Errorf("message %q", f.Message)
		}
	})
}

func TestRunNullAndImplicit(t *testing.T) {
	t.Run("null MX", func(t *testing.T) {
		e := newEnv(t, zoneHead+"example.com. 3600 IN MX 0 .\n")
		r := e.run(t, "example.com")
		wantCodes(t, r, "NULL_MX/info")
		if r.Status != StatusPass || len(r.MX) != 1 || r.MX[0].Host != "." {
			t.Errorf("status %s mx %+v", r.Status, r.MX)
		}
	})
	t.Run("implicit MX", func(t *testing.T) {
		e := newEnv(t, zoneHead+`
example.com. 3600 IN A 192.0.2.1
example.com. 3600 IN A 198.51.100.1
1.2.0.192.in-addr.arpa.    3600 IN PTR example.com.
1.100.51.198.in-addr.arpa. 3600 IN PTR example.com.
`)
		r := e.run(t, "example.com")
		wantCodes(t, r, "NO_MX_IMPLICIT/notice")
		if r.LoadBalancing != BalancingWeak || r.Failover.Class != FailoverDiverse || len(r.MX) != 1 || r.MX[0].Host != "example.com" {
			t.Errorf("balancing %s failover %s mx %+v", r.LoadBalancing, r.Failover.Class, r.MX)
		}
	})
	t.Run("no MX, no address", func(t *testing.T) {
		e := newEnv(t, zoneHead)
		r := e.run(t, "example.com")
		wantCodes(t, r, "NO_USABLE_MX/error")
	})
}

// TestRunSlowReverse: a reverse zone that does not answer within the
// reverse budget, and one that fails, are reported as unchecked, and the
// rest of the report is unaffected.
func TestRunSlowReverse(t *testing.T) {
	e := newEnv(t, seedZone("seed1"))
	e.srv.SetDelay("1.10.16.172.in-addr.arpa.", time.Minute)
	e.srv.SetRcode("2.10.16.172.in-addr.arpa.", dns.RcodeServerFailure)
	e.opts.ReverseBudget = time.Second
	r := e.run(t, "example.com")
	wantCodes(t, r, "SAME_PREFIX/notice", "MX_PRIVATE_ADDRESS/notice", "MX_TTL_LOW/notice", "PTR_UNCHECKED/info")
	f, _ := findingOf(r, CodePTRUnchecked)
	if !slices.Equal(f.Addresses, []string{"172.16.10.1", "172.16.10.2"}) ||
		!strings.Contains(f.Message, "timeout") || !strings.Contains(f.Message, "SERVFAIL") {
		t.Errorf("PTR_UNCHECKED %+v", f)
	}
	for _, m := range r.MX {
		if len(m.PTR) != 0 {
			t.Errorf("mx %s: ptr %+v for an unchecked address", m.Host, m.PTR)
		}
	}
	if r.Status != StatusPass || r.LoadBalancing != BalancingStrong {
		t.Errorf("status %s balancing %s", r.Status, r.LoadBalancing)
	}
}

// TestRunInconsistent runs the zone's two "authoritative" servers as two
// more dnstest servers with different MX sets; both NS names point at
// 127.0.0.1 and NSAddr maps each name to its server's port.
func TestRunInconsistent(t *testing.T) {
	const head = `
example.com.     3600 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 300
example.com.     3600 IN NS  ns1.example.com.
example.com.     3600 IN NS  ns2.example.com.
ns1.example.com. 3600 IN A   127.0.0.1
ns2.example.com. 3600 IN A   127.0.0.1
a.example.com.   3600 IN A   192.0.2.1
b.example.com.   3600 IN A   198.51.100.1
1.2.0.192.in-addr.arpa.    3600 IN PTR a.example.com.
1.100.51.198.in-addr.arpa. 3600 IN PTR b.example.com.
`
	both := head + "example.com. 3600 IN MX 10 a.example.com.\nexample.com. 3600 IN MX 10 b.example.com.\n"
	e := newEnv(t, both)
	ns1 := dnstest.NewServer(t, both)
	ns2 := dnstest.NewServer(t, head+"example.com. 3600 IN MX 10 a.example.com.\n")
	e.opts.NSAddr = func(host string, _ netip.Addr) string {
		if host == "ns2.example.com" {
			return ns2.Addr()
		}
		return ns1.Addr()
	}
	r := e.run(t, "example.com")
	wantCodes(t, r, "MX_INCONSISTENT/warning")
	f, _ := findingOf(r, CodeMXInconsistent)
	if !slices.Equal(f.Hosts, []string{"ns1.example.com", "ns2.example.com"}) ||
		!strings.Contains(f.Message, "{10 a.example.com, 10 b.example.com}") || !strings.Contains(f.Message, "{10 a.example.com}") {
		t.Errorf("MX_INCONSISTENT %+v", f)
	}
	if r.Status != StatusWarn || r.Grade != GradeC {
		t.Errorf("status %s grade %s, want warn C", r.Status, r.Grade)
	}
	for _, s := range []*dnstest.Server{ns1, ns2} {
		if n := s.Queries("example.com.", dns.TypeMX, ""); n != 1 {
			t.Errorf("server %s got %d MX queries, want 1", s.Addr(), n)
		}
	}

	t.Run("one server silent", func(t *testing.T) {
		ns2.SetDelay(dnstest.Any, time.Minute)
		e.opts.ConsistencyBudget = time.Second
		r := e.run(t, "example.com")
		wantCodes(t, r, "CONSISTENCY_UNCHECKED/info")
		if f, _ := findingOf(r, CodeConsistencyUnchecked); !slices.Equal(f.Hosts, []string{"ns2.example.com"}) {
			t.Errorf("CONSISTENCY_UNCHECKED %+v", f)
		}
	})
	t.Run("lame server", func(t *testing.T) {
		ns2.SetDelay(dnstest.Any, 0)
		ns2.Handle(dnstest.Any, 0, func(req *dns.Msg) *dns.Msg {
			m := new(dns.Msg)
			m.SetReply(req) // no AA: a server that does not serve the zone
			return m
		})
		r := e.run(t, "example.com")
		wantCodes(t, r, "CONSISTENCY_UNCHECKED/info")
		if f, _ := findingOf(r, CodeConsistencyUnchecked); !strings.Contains(f.Message, "lame") {
			t.Errorf("CONSISTENCY_UNCHECKED %+v", f)
		}
	})
}

// TestRunZoneCut: a domain below the zone apex is compared at the apex.
func TestRunZoneCut(t *testing.T) {
	e := newEnv(t, zoneHead+`
shop.example.com. 3600 IN MX 10 a.example.com.
shop.example.com. 3600 IN MX 10 b.example.com.
a.example.com. 3600 IN A 192.0.2.1
b.example.com. 3600 IN A 198.51.100.1
1.2.0.192.in-addr.arpa.    3600 IN PTR a.example.com.
1.100.51.198.in-addr.arpa. 3600 IN PTR b.example.com.
`)
	r := e.run(t, "shop.example.com")
	wantCodes(t, r)
	if n := e.srv.Queries("example.com.", dns.TypeNS, ""); n != 1 {
		t.Errorf("%d NS queries for example.com, want 1", n)
	}
}

func TestRunRejects(t *testing.T) {
	e := newEnv(t, zoneHead)
	for _, d := range []string{"", ".", "bad domain", strings.Repeat("a", 64) + ".com"} {
		if _, err := Run(context.Background(), e.res, d, Options{}); !errors.Is(err, ErrInvalidDomain) {
			t.Errorf("Run(%q) error %v, want ErrInvalidDomain", d, err)
		}
	}
	if _, err := Run(context.Background(), nil, "example.com", Options{}); err == nil {
		t.Error("Run with a nil resolver: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, e.res, "example.com", e.opts); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context: %v, want context.Canceled", err)
	}
}
