package cache

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
)

// TestSecureKept: an answer's DNSSEC status survives the cache's compact
// storage, on a hit, a peek and a stale answer alike, and for TLSA
// records (kept whole) as for addresses (kept compact).
func TestSecureKept(t *testing.T) {
	up := newUpstream()
	tlsa := resolver.Answer{Name: "_25._tcp.mx.example.com.", Qtype: dns.TypeTLSA, Rcode: dns.RcodeSuccess, TTL: time.Minute, Server: "test", Secure: true,
		Records: []dns.RR{&dns.TLSA{Hdr: dns.RR_Header{Name: "_25._tcp.mx.example.com.", Rrtype: dns.TypeTLSA, Class: dns.ClassINET, Ttl: 60},
			Usage: 3, Selector: 1, MatchingType: 1, Certificate: "00ff"}}}
	addr := resolver.Answer{Name: "mx.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, TTL: time.Minute, Server: "test", Secure: true,
		Records: []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "mx.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: []byte{192, 0, 2, 1}}}}
	plain := mxAnswer("example.com.", time.Minute, "mx.example.com.")
	up.set(tlsa)
	up.set(addr)
	up.set(plain)
	clock := newClock()
	c := newCache(t, up, clock, Config{})
	ctx := context.Background()
	check := func(stage string, name string, qtype uint16, want bool) {
		t.Helper()
		a, r, err := c.LookupResult(ctx, name, qtype)
		if err != nil || a.Secure != want {
			t.Errorf("%s %s: result %v err %v Secure %v, want %v", stage, name, r, err, a.Secure, want)
		}
		if p, _, ok := c.Peek(ctx, name, qtype); !ok || p.Secure != want {
			t.Errorf("%s peek %s: ok %v Secure %v, want %v", stage, name, ok, p.Secure, want)
		}
	}
	for _, stage := range []string{"miss", "hit"} {
		check(stage, tlsa.Name, dns.TypeTLSA, true)
		check(stage, addr.Name, dns.TypeA, true)
		check(stage, plain.Name, dns.TypeMX, false)
	}
	clock.advance(2 * time.Minute)
	up.fail(errUpstream)
	check("stale", tlsa.Name, dns.TypeTLSA, true)
	check("stale", addr.Name, dns.TypeA, true)
}
