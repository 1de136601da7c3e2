package main

import (
	"net/http"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// TestDemoZoneStaysLocal: every plan and every layout check of a demo
// domain is answered from the embedded zone. The upstream resolver sees
// the readiness probe's "NS ." and nothing else, so `make run` followed by
// the README's examples sends no query off the machine.
func TestDemoZoneStaysLocal(t *testing.T) {
	up := dnstest.NewServer(t, ". 300 IN NS a.root.test.\n")
	s := startServer(t, map[string]string{"MXROUTE_DNS_SERVERS": up.Addr(), "MXROUTE_ZONE_FILES": "demo"})
	domains := []string{"example.com", "equal.example", "onename.example", "shared.example",
		"nullmx.example", "implicit.example", "alias.example", "nohosts.example"}
	for _, d := range domains {
		s.route(d)
		if code, body, _ := s.do(http.MethodGet, "/check?domain="+d, nil, nil); code != http.StatusOK {
			t.Errorf("/check?domain=%s: %d %s", d, code, body)
		}
	}
	if n := up.TotalQueries() - up.Queries(".", dns.TypeNS, ""); n != 0 {
		t.Errorf("the demo domains sent %d queries upstream, want 0", n)
	}
}
