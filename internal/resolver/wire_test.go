package resolver_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

func TestExchange(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	c := newClient(t, resolver.Config{Servers: []string{deadAddr(t)}})

	t.Run("authoritative, no RD", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("example.com.", dns.TypeMX)
		m.RecursionDesired = false
		r, err := c.Exchange(context.Background(), srv.Addr(), m)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Authoritative || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 3 {
			t.Errorf("AA %v rcode %d answers %d, want true 0 3", r.Authoritative, r.Rcode, len(r.Answer))
		}
	})
	t.Run("rcodes are replies, not errors", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("nosuch.example.com.", dns.TypeMX)
		r, err := c.Exchange(context.Background(), srv.Addr(), m)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
			t.Errorf("rcode %d authority %d, want NXDOMAIN with the SOA", r.Rcode, len(r.Ns))
		}
	})
	t.Run("truncated over UDP", func(t *testing.T) {
		srv.SetTruncate("mail1.example.com.", true)
		defer srv.SetTruncate("mail1.example.com.", false)
		srv.ResetCounts()
		m := new(dns.Msg)
		m.SetQuestion("mail1.example.com.", dns.TypeA)
		r, err := c.Exchange(context.Background(), srv.Addr(), m)
		if err != nil {
			t.Fatal(err)
		}
		if r.Truncated || len(r.Answer) != 3 || srv.Queries(dnstest.Any, 0, dnstest.TCP) != 1 {
			t.Errorf("TC %v answers %d tcp queries %d, want false 3 1",
				r.Truncated, len(r.Answer), srv.Queries(dnstest.Any, 0, dnstest.TCP))
		}
	})
}

func TestExchangeTimeout(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	srv.SetDelay(dnstest.Any, time.Hour)
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}, Timeout: 50 * time.Millisecond})
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeMX)
	if _, err := c.Exchange(context.Background(), srv.Addr(), m); !errors.Is(err, resolver.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

func TestExchangeBadResponse(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	srv.Handle(dnstest.Any, 0, func(req *dns.Msg) *dns.Msg {
		r := new(dns.Msg)
		r.SetReply(req)
		r.Question[0].Qtype = dns.TypeTXT
		return r
	})
	c := newClient(t, resolver.Config{Servers: []string{srv.Addr()}})
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeMX)
	if _, err := c.Exchange(context.Background(), srv.Addr(), m); !errors.Is(err, resolver.ErrBadResponse) {
		t.Fatalf("err = %v, want ErrBadResponse", err)
	}
}
