package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// TestRouteDemoZone runs the embedded defaults: the seed's recommended
// layout answers offline, with duplicates skipped and the tie shuffled.
func TestRouteDemoZone(t *testing.T) {
	s := startServer(t, nil)

	p := s.route("Example.COM.")
	if p.Domain != "example.com" || p.Disposition != apigen.Deliver || p.Reason != apigen.ReasonOk || p.EnhancedStatus != nil {
		t.Fatalf("plan = %+v, want example.com deliver ok", p)
	}
	if p.Ttl != 1200 {
		t.Errorf("ttl = %d, want 1200", p.Ttl)
	}
	if len(p.Attempts) != 2 {
		t.Fatalf("attempts = %v, want the two unique addresses", addrs(p))
	}
	dups := 0
	for _, sk := range p.Skipped {
		if sk.Reason == apigen.DuplicateAddress {
			dups++
			if sk.Preference < 20 {
				t.Errorf("skipped %+v: only mail3/mail4 (20, 30) are duplicates", sk)
			}
		}
	}
	if dups != 2 {
		t.Errorf("skipped = %+v, want mail3 and mail4 as duplicate_address", p.Skipped)
	}
	if p.RouteId == "" {
		t.Errorf("route_id is empty")
	}

	first := map[string]int{}
	for range 200 {
		first[s.route("example.com").Attempts[0].Host]++
	}
	if first["mail1.example.com"] == 0 || first["mail2.example.com"] == 0 {
		t.Errorf("first host over 200 plans = %v: equal preferences must be shuffled per request", first)
	}
}

func TestRouteDispositions(t *testing.T) {
	s := startServer(t, nil)
	for _, tc := range []struct {
		domain      string
		disposition apigen.Disposition
		reason      apigen.Reason
		status      string
		implicit    bool
		warning     apigen.WarningCode
	}{
		{"nullmx.example", apigen.PermanentFailure, apigen.ReasonNullMx, "5.1.10", false, ""},
		{"nosuch.example.com", apigen.PermanentFailure, apigen.ReasonNxdomain, "5.1.2", false, ""},
		{"implicit.example", apigen.Deliver, apigen.ReasonOk, "", true, ""},
		{"alias.example", apigen.Deliver, apigen.ReasonOk, "", false, apigen.MxTargetCname},
		{"nohosts.example", apigen.PermanentFailure, apigen.ReasonNoMailHosts, "5.4.4", false, apigen.MxTargetUnresolvable},
		{"mail1.example.com", apigen.Deliver, apigen.ReasonOk, "", true, ""},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			p := s.route(tc.domain)
			got := ""
			if p.EnhancedStatus != nil {
				got = *p.EnhancedStatus
			}
			if p.Disposition != tc.disposition || p.Reason != tc.reason || got != tc.status || p.ImplicitMx != tc.implicit {
				t.Errorf("plan = %s %s %q implicit=%v, want %s %s %q implicit=%v", p.Disposition, p.Reason, got, p.ImplicitMx, tc.disposition, tc.reason, tc.status, tc.implicit)
			}
			if tc.warning != "" {
				found := false
				for _, w := range p.Warnings {
					found = found || w.Code == tc.warning
				}
				if !found {
					t.Errorf("warnings = %+v, want %s", p.Warnings, tc.warning)
				}
			}
		})
	}
}

// TestRouteBadInput: every malformed request is a 400 problem naming the
// parameter, never a 5xx.
func TestRouteBadInput(t *testing.T) {
	s := startServer(t, nil)
	for _, tc := range []struct{ query, param string }{
		{"", "domain"},
		{"domain=", "domain"},
		{"domain=a..b.com", "domain"},
		{"domain=-bad.com", "domain"},
		{"domain=under_score.com", "domain"},
		{"domain=1.2.3.4", "domain"},
		{"domain=localhost", "domain"},
		{"domain=" + strings.Repeat("a", 64) + ".com", "domain"},
		{"domain=" + url.QueryEscape("user@example.com"), "domain"},
		{"domain=example.com&max_attempts=0", "max_attempts"},
		{"domain=example.com&max_attempts=101", "max_attempts"},
		{"domain=example.com&max_attempts=ten", "max_attempts"},
		{"domain=example.com&family=ipv5", "family"},
	} {
		code, body, _ := s.do(http.MethodGet, "/route?"+tc.query, nil, nil)
		if code != http.StatusBadRequest {
			t.Errorf("?%s: status %d, want 400: %s", tc.query, code, body)
			continue
		}
		p := problemOf(t, body)
		if p.InvalidParams == nil || (*p.InvalidParams)[0].Name != tc.param {
			t.Errorf("?%s: problem %s does not name %q", tc.query, body, tc.param)
		}
	}
}

func TestRouteUnicodeAndLimits(t *testing.T) {
	s := startServer(t, nil)
	var p apigen.Plan
	if code := s.getJSON("/route?domain="+url.QueryEscape("Bücher.example"), &p); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if p.Domain != "xn--bcher-kva.example" {
		t.Errorf("domain = %q, want the A-label", p.Domain)
	}
	if code := s.getJSON("/route?domain=example.com&max_attempts=1", &p); code != http.StatusOK || len(p.Attempts) != 1 {
		t.Errorf("max_attempts=1: status %d, attempts %v", code, addrs(p))
	}
	if code := s.getJSON("/route?domain=example.com&family=ipv6", &p); code != http.StatusOK || p.Reason != apigen.ReasonNoMailHosts {
		t.Errorf("family=ipv6 on an IPv4-only domain: %s %s, want no_mail_hosts", p.Disposition, p.Reason)
	}
}

// TestRouteUpstreamDNS resolves through a real DNS server over UDP and
// TCP: a truncated answer is retried over TCP, and a SERVFAIL is a
// temporary failure, not a 5xx.
func TestRouteUpstreamDNS(t *testing.T) {
	zone := `
big.test.   300 IN SOA ns.big.test. h.big.test. 1 3600 600 86400 60
big.test.   300 IN MX 10 mx.big.test.
mx.big.test. 300 IN A 192.0.2.10
mx.big.test. 300 IN A 192.0.2.11
broken.test. 300 IN SOA ns.broken.test. h.broken.test. 1 3600 600 86400 60
broken.test. 300 IN MX 10 mx.broken.test.
`
	d := dnstest.NewServer(t, zone)
	d.SetTruncate("big.test.", true)
	d.SetRcode("broken.test.", dns.RcodeServerFailure)
	s := startServer(t, map[string]string{"MXROUTE_DNS_SERVERS": d.Addr(), "MXROUTE_ZONE_FILES": "none"})

	p := s.route("big.test")
	if p.Disposition != apigen.Deliver || addrs(p) != "192.0.2.10,192.0.2.11" {
		t.Errorf("big.test: %s %s, want deliver to both addresses in presented order", p.Disposition, addrs(p))
	}
	if n := d.Queries("big.test.", dns.TypeMX, dnstest.TCP); n == 0 {
		t.Errorf("truncated MX answer was not retried over TCP")
	}
	p = s.route("broken.test")
	if p.Disposition != apigen.TemporaryFailure || p.Reason != apigen.ReasonDnsError || p.EnhancedStatus == nil || *p.EnhancedStatus != "4.4.3" {
		t.Errorf("broken.test: %+v, want temporary_failure dns_error 4.4.3", p)
	}
	before := d.TotalQueries()
	s.route("big.test")
	if d.TotalQueries() != before {
		t.Errorf("a cached plan sent %d queries", d.TotalQueries()-before)
	}
}

func TestOperationalEndpoints(t *testing.T) {
	s := startServer(t, nil)
	code, body, h := s.do(http.MethodGet, "/openapi.yaml", nil, nil)
	if code != http.StatusOK || !strings.Contains(string(body), "operationId: getRoute") || !strings.Contains(h.Get("Content-Type"), "yaml") {
		t.Errorf("/openapi.yaml: %d %s", code, h.Get("Content-Type"))
	}
	var r apigen.Readiness
	if code := s.getJSON("/readyz", &r); code != http.StatusOK || r.Status == apigen.ReadinessStatusNotReady {
		t.Errorf("/readyz: %d %+v", code, r)
	}
	s.route("example.com")
	code, body, _ = s.do(http.MethodGet, "/metrics", nil, nil)
	if code != http.StatusOK || !strings.Contains(string(body), "mxroute_plans") {
		t.Errorf("/metrics: %d, no mxroute_plans counter:\n%.2000s", code, body)
	}
	code, body, _ = s.do(http.MethodGet, "/nope", nil, nil)
	if code != http.StatusNotFound {
		t.Errorf("/nope: %d %s", code, body)
	}
}

// TestMetricsIgnoreHostHeader: a client's Host header never becomes a
// metric label, or any client could mint series at will.
func TestMetricsIgnoreHostHeader(t *testing.T) {
	s := startServer(t, nil)
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/route?domain=example.com", nil)
		req.Host = fmt.Sprintf("evil-%d.example:%d", i, 1000+i)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	_, body, _ := s.do(http.MethodGet, "/metrics", nil, nil)
	if strings.Contains(string(body), "evil-") {
		t.Errorf("/metrics carries the Host header:\n%s", grepLines(string(body), "evil-"))
	}
	if !strings.Contains(string(body), `http_route="/route"`) {
		t.Errorf("/metrics lacks the /route request metrics")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
