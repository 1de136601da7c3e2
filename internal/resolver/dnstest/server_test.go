package dnstest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func query(t *testing.T, s *dnstest.Server, net, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := (&dns.Client{Net: net}).Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s over %s: %v", dns.Type(qtype), name, net, err)
	}
	return r
}

func TestImplicitRoot(t *testing.T) {
	s := dnstest.NewServer(t, "1.10.16.172.in-addr.arpa. 300 IN PTR mail1.example.com.\n")
	r := query(t, s, dnstest.UDP, "1.10.16.172.IN-ADDR.ARPA.", dns.TypePTR)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != "mail1.example.com." || !r.Authoritative {
		t.Errorf("answer %v AA %v, want the PTR, authoritative", r.Answer, r.Authoritative)
	}
	r = query(t, s, dnstest.TCP, "2.10.16.172.in-addr.arpa.", dns.TypePTR)
	if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || r.Ns[0].Header().Name != "." {
		t.Errorf("rcode %d authority %v, want NXDOMAIN with the root SOA", r.Rcode, r.Ns)
	}
	r = query(t, s, dnstest.UDP, "10.16.172.in-addr.arpa.", dns.TypePTR)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("empty non-terminal: rcode %d answer %v, want NODATA", r.Rcode, r.Answer)
	}
}

func TestCountsAndKnobs(t *testing.T) {
	s := dnstest.NewServer(t, "example.com. 300 IN A 192.0.2.1\n")
	query(t, s, dnstest.UDP, "Example.com.", dns.TypeA)
	query(t, s, dnstest.TCP, "example.com.", dns.TypeA)
	query(t, s, dnstest.TCP, "example.com.", dns.TypeMX)
	for _, c := range []struct {
		qtype     uint16
		transport string
		want      int
	}{
		{dns.TypeA, dnstest.UDP, 1}, {dns.TypeA, dnstest.TCP, 1}, {dns.TypeA, "", 2}, {0, dnstest.TCP, 2}, {0, "", 3},
	} {
		if got := s.Queries("example.com", c.qtype, c.transport); got != c.want {
			t.Errorf("Queries(%s, %q) = %d, want %d", dns.Type(c.qtype), c.transport, got, c.want)
		}
	}

	s.SetRcode("example.com.", dns.RcodeRefused)
	if r := query(t, s, dnstest.UDP, "example.com.", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("rcode %d, want REFUSED", r.Rcode)
	}
	s.SetRcode("example.com.", dns.RcodeSuccess)

	s.SetTruncate(dnstest.Any, true)
	if r := query(t, s, dnstest.UDP, "example.com.", dns.TypeA); !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("UDP: TC %v answer %v, want truncated and empty", r.Truncated, r.Answer)
	}
	if r := query(t, s, dnstest.TCP, "example.com.", dns.TypeA); r.Truncated || len(r.Answer) != 1 {
		t.Errorf("TCP: TC %v answer %v, want the full answer", r.Truncated, r.Answer)
	}
	s.SetTruncate(dnstest.Any, false)

	s.Handle("example.com.", dns.TypeA, func(req *dns.Msg) *dns.Msg {
		r := new(dns.Msg)
		r.SetReply(req)
		rr, _ := dns.NewRR("example.com. 1 IN A 192.0.2.200")
		r.Answer = []dns.RR{rr}
		return r
	})
	if r := query(t, s, dnstest.UDP, "example.com.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.200" {
		t.Errorf("handled answer %v, want 192.0.2.200", r.Answer)
	}

	s.ResetCounts()
	if n := s.TotalQueries(); n != 0 {
		t.Errorf("TotalQueries after reset = %d", n)
	}
}

// TestTruncatesBySize checks that a large answer is cut to 512 bytes for a
// query without EDNS0, as real servers do.
func TestTruncatesBySize(t *testing.T) {
	var zone strings.Builder
	for i := range 60 {
		fmt.Fprintf(&zone, "big.example. 300 IN A 10.0.0.%d\n", i)
	}
	s := dnstest.NewServer(t, zone.String())
	if r := query(t, s, dnstest.UDP, "big.example.", dns.TypeA); !r.Truncated {
		t.Errorf("UDP reply of %d records not truncated", len(r.Answer))
	}
	if r := query(t, s, dnstest.TCP, "big.example.", dns.TypeA); r.Truncated || len(r.Answer) != 60 {
		t.Errorf("TCP: TC %v with %d records, want 60", r.Truncated, len(r.Answer))
	}
}

func TestCNAMEChase(t *testing.T) {
	s := dnstest.NewServer(t, `
a.example. 3600 IN SOA ns. h. 1 1 1 1 60
www.a.example. 300 IN CNAME web.a.example.
web.a.example. 300 IN A 192.0.2.1
out.a.example. 300 IN CNAME x.b.example.
b.example. 3600 IN SOA ns. h. 1 1 1 1 60
x.b.example. 300 IN A 192.0.2.2
`)
	if r := query(t, s, dnstest.UDP, "www.a.example.", dns.TypeA); len(r.Answer) != 2 {
		t.Errorf("in-zone chain: answer %v, want CNAME and A", r.Answer)
	}
	if r := query(t, s, dnstest.UDP, "out.a.example.", dns.TypeA); len(r.Answer) != 1 || len(r.Ns) != 0 || r.Rcode != dns.RcodeSuccess {
		t.Errorf("chain leaving the zone: answer %v authority %v rcode %d, want the CNAME alone", r.Answer, r.Ns, r.Rcode)
	}
}

func TestClose(t *testing.T) {
	s := dnstest.NewServer(t, "example.com. 300 IN A 192.0.2.1\n")
	s.Close()
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeA)
	if _, _, err := (&dns.Client{Net: "tcp"}).Exchange(m, s.Addr()); err == nil {
		t.Error("query to a closed server succeeded")
	}
}
