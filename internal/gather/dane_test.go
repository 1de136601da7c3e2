package gather

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/cache"
	"github.com/mxroute/mxroute/internal/dnssectest"
	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
	"github.com/mxroute/mxroute/internal/routing"
)

// daneZone is signed. mx1 has a DANE-EE record with a TTL shorter than
// everything else, mx2 none, and mx3's TLSA signature is forged.
const daneZone = `
sig.test.                 300 IN SOA  ns.sig.test. hostmaster.sig.test. 1 3600 600 86400 60
sig.test.                 300 IN NS   ns.sig.test.
ns.sig.test.              300 IN A    127.0.0.1
sig.test.                 300 IN MX   10 mx1.sig.test.
sig.test.                 300 IN MX   20 mx2.sig.test.
bogus.sig.test.           300 IN MX   10 mx3.sig.test.
half.sig.test.            300 IN MX   10 mx3.sig.test.
half.sig.test.            300 IN MX   20 mx2.sig.test.
mx1.sig.test.             300 IN A    192.0.2.1
mx2.sig.test.             300 IN A    192.0.2.2
mx3.sig.test.             300 IN A    192.0.2.3
_25._tcp.mx1.sig.test.     40 IN TLSA 3 1 1 0123456789ABCDEF
_25._tcp.mx1.sig.test.     40 IN TLSA 0 0 1 00ff
_25._tcp.mx3.sig.test.    300 IN TLSA 3 1 1 00ff
`

// plainDANEZone is unsigned: its TLSA record proves nothing.
const plainDANEZone = `
plain.test.               300 IN SOA  ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 60
plain.test.               300 IN MX   10 mx.plain.test.
mx.plain.test.            300 IN A    192.0.2.9
_25._tcp.mx.plain.test.   300 IN TLSA 3 1 1 00ff
`

// daneStack is a Service over the DNS cache over the real resolver
// client, asking a real validating unbound, on a clock the test moves.
type daneStack struct {
	s     *Service
	cache *cache.Cache
	mu    sync.Mutex
	now   time.Time
}

func newDANEStack(t *testing.T, addr string, validating, dane bool) *daneStack {
	t.Helper()
	res, err := resolver.New(resolver.Config{Servers: []string{addr}, Validating: validating})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	st := &daneStack{now: time.Unix(1_000_000, 0)}
	clock := func() time.Time { st.mu.Lock(); defer st.mu.Unlock(); return st.now }
	if st.cache, err = cache.New(res, cache.Config{Now: clock, MinTTL: -1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.cache.Close() })
	if st.s, err = New(st.cache, Config{Now: clock, DANE: dane}); err != nil {
		t.Fatal(err)
	}
	return st
}

func (st *daneStack) advance(d time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.now = st.now.Add(d)
}

// looked reports whether the TLSA record of host was ever asked for.
func (st *daneStack) looked(host string) bool {
	_, _, ok := st.cache.Peek(context.Background(), tlsaName(host), dns.TypeTLSA)
	return ok
}

func TestDANE(t *testing.T) {
	r := dnssectest.Start(t,
		dnssectest.Zone{Text: daneZone, Bogus: []string{"_25._tcp.mx3.sig.test. TLSA"}},
		dnssectest.Zone{Text: plainDANEZone, Unsigned: true})
	ctx := context.Background()
	req := func(d string) Request { return Request{Domain: d, Family: routing.FamilyIPv4} }

	t.Run("validated TLSA", func(t *testing.T) {
		st := newDANEStack(t, r.Addr, true, true)
		p := st.s.Plan(ctx, req("sig.test"))
		if p.Disposition != routing.Deliver || len(p.Attempts) != 2 || p.TLS.Kind != routing.TLSDANE {
			t.Fatalf("plan %s, %d attempts, tls %s; want deliver to 2 under dane", p.Disposition, len(p.Attempts), p.TLS.Kind)
		}
		a, b := p.Attempts[0], p.Attempts[1]
		want := []routing.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: "0123456789abcdef"}}
		if a.Host != "mx1.sig.test" || !a.DANE || !a.TLSRequired || !slices.Equal(a.TLSA, want) {
			t.Errorf("mx1: %+v; want DANE with the usable record only, data in lower case", a)
		}
		if b.Host != "mx2.sig.test" || b.DANE || b.TLSRequired {
			t.Errorf("mx2 (no TLSA): %+v; want no TLS requirement", b)
		}
		if p.TTL <= 0 || p.TTL > 40*time.Second {
			t.Errorf("plan TTL %v; want at most the TLSA TTL 40s", p.TTL)
		}
		// The kept input expires with the TLSA answer: 41 s later the
		// plan is gathered again and the TLSA record asked again.
		st.advance(41 * time.Second)
		if p := st.s.Plan(ctx, req("sig.test")); !p.Attempts[0].DANE || p.TTL > 40*time.Second || p.TTL <= 0 {
			t.Errorf("after the TLSA TTL: dane %v ttl %v; want DANE from a fresh TLSA answer", p.Attempts[0].DANE, p.TTL)
		}
	})
	t.Run("forged TLSA on a signed zone", func(t *testing.T) {
		st := newDANEStack(t, r.Addr, true, true)
		p := st.s.Plan(ctx, req("bogus.sig.test"))
		if p.Disposition != routing.TemporaryFailure || len(p.Skipped) != 1 || p.Skipped[0].Reason != routing.SkipTLSALookupFailed {
			t.Errorf("plan %s (%s), skipped %+v; want a temporary failure, mx3 skipped tlsa_lookup_failed", p.Disposition, p.Reason, p.Skipped)
		}
		p = st.s.Plan(ctx, req("half.sig.test"))
		if p.Disposition != routing.Deliver || len(p.Attempts) != 1 || p.Attempts[0].Host != "mx2.sig.test" {
			t.Errorf("plan %s, attempts %+v; want mx2 only", p.Disposition, p.Attempts)
		}
	})
	t.Run("unsigned zone", func(t *testing.T) {
		st := newDANEStack(t, r.Addr, true, true)
		p := st.s.Plan(ctx, req("plain.test"))
		if p.Disposition != routing.Deliver || p.Attempts[0].DANE || p.Attempts[0].TLSRequired || p.TLS.Kind != routing.TLSNone {
			t.Errorf("plan %s, attempt %+v, tls %s; want the insecure TLSA ignored", p.Disposition, p.Attempts, p.TLS.Kind)
		}
	})
	t.Run("resolver not trusted to validate", func(t *testing.T) {
		st := newDANEStack(t, r.Addr, false, true)
		p := st.s.Plan(ctx, req("sig.test"))
		if p.Attempts[0].DANE || p.TLS.Kind != routing.TLSNone {
			t.Errorf("attempt %+v, tls %s; want AD ignored", p.Attempts[0], p.TLS.Kind)
		}
	})
	t.Run("DANE off", func(t *testing.T) {
		st := newDANEStack(t, r.Addr, true, false)
		p := st.s.Plan(ctx, req("sig.test"))
		if p.Attempts[0].DANE || st.looked("mx1.sig.test") {
			t.Errorf("attempt %+v, TLSA looked up %v; want no TLSA lookup", p.Attempts[0], st.looked("mx1.sig.test"))
		}
		p = st.s.Plan(ctx, req("bogus.sig.test"))
		if p.Disposition != routing.Deliver {
			t.Errorf("bogus.sig.test without DANE: %s; want deliver (the TLSA record is never asked)", p.Disposition)
		}
	})
}

// slowTLSAZone: both hosts' TLSA queries go unanswered for longer than
// the plan's budget; mx.sec.test's A answer comes with AD (the handler
// below), mx.insec.test's without.
const slowTLSAZone = `
test.                      60 IN SOA  ns.test. h.test. 1 60 60 60 60
sec.test.                  60 IN MX   10 mx.sec.test.
insec.test.                60 IN MX   10 mx.insec.test.
mx.sec.test.               60 IN A    192.0.2.1
mx.insec.test.             60 IN A    192.0.2.2
`

// TestDANEWaitsOnlyForSecureHosts: an insecure host's TLSA lookup costs
// the plan no time; a secure host's is waited for, and its failure makes
// the host unusable.
func TestDANEWaitsOnlyForSecureHosts(t *testing.T) {
	srv := dnstest.NewServer(t, slowTLSAZone)
	srv.Handle("mx.sec.test.", dns.TypeA, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(req)
		m.AuthenticatedData = true
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "mx.sec.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: []byte{192, 0, 2, 1}}}
		return m
	})
	for _, h := range []string{"mx.sec.test", "mx.insec.test"} {
		srv.SetDelay(tlsaName(h), 10*time.Second)
	}
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr()}, Validating: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	c, err := cache.New(res, cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	const budget = time.Second
	s, err := New(c, Config{DANE: true, Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	req := func(d string) Request { return Request{Domain: d, Family: routing.FamilyIPv4} }

	start := time.Now()
	p := s.Plan(t.Context(), req("insec.test"))
	if took := time.Since(start); p.Disposition != routing.Deliver || took > budget/2 {
		t.Errorf("insecure host: %s after %v; want deliver without waiting for its TLSA lookup", p.Disposition, took)
	}
	start = time.Now()
	p = s.Plan(t.Context(), req("sec.test"))
	if took := time.Since(start); p.Disposition != routing.TemporaryFailure || len(p.Skipped) != 1 || p.Skipped[0].Reason != routing.SkipTLSALookupFailed || took < budget {
		t.Errorf("secure host: %s, skipped %+v after %v; want a temporary failure, tlsa_lookup_failed, after the budget", p.Disposition, p.Skipped, took)
	}
	if n := srv.Queries(tlsaName("mx.insec.test"), dns.TypeTLSA, ""); n != 1 {
		t.Errorf("insecure host's TLSA queries: %d, want 1 (asked in parallel, not waited for)", n)
	}
}
