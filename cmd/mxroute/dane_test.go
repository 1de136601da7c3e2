package main

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/dnssectest"
	"github.com/mxroute/mxroute/internal/mtasts/mtaststest"
)

// daneZone is signed and publishes MTA-STS in enforce mode for every MX
// host, and TLSA for mx1 only; bogus.dane.test's only host has a forged
// TLSA signature.
const daneZone = `
dane.test.                 300 IN SOA  ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 60
dane.test.                 300 IN NS   ns.dane.test.
ns.dane.test.              300 IN A    127.0.0.1
dane.test.                 300 IN MX   10 mx1.dane.test.
dane.test.                 300 IN MX   20 mx2.dane.test.
_mta-sts.dane.test.        300 IN TXT  "v=STSv1; id=1;"
mta-sts.dane.test.         300 IN A    127.0.0.1
bogus.dane.test.           300 IN MX   10 mx3.dane.test.
mx1.dane.test.             300 IN A    192.0.2.1
mx2.dane.test.             300 IN A    192.0.2.2
mx3.dane.test.             300 IN A    192.0.2.3
_25._tcp.mx1.dane.test.    300 IN TLSA 3 1 1 c0ffee
_25._tcp.mx3.dane.test.    300 IN TLSA 3 1 1 c0ffee
`

// plainDANEZone is unsigned.
const plainDANEZone = `
plain.test.                300 IN SOA  ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 60
plain.test.                300 IN MX   10 mx.plain.test.
mx.plain.test.             300 IN A    192.0.2.9
_25._tcp.mx.plain.test.    300 IN TLSA 3 1 1 c0ffee
`

// tlsOf renders an attempt's TLS requirement.
func tlsOf(a apigen.Attempt) string {
	var b strings.Builder
	b.WriteString(a.Host)
	switch {
	case a.Dane != nil && *a.Dane:
		b.WriteString(" dane")
		for _, r := range *a.Tlsa {
			b.WriteString(" " + strconv.Itoa(r.Usage) + strconv.Itoa(r.Selector) + strconv.Itoa(r.MatchingType) + ":" + r.Data)
		}
	case a.TlsRequired:
		b.WriteString(" tls")
	}
	return b.String()
}

func tlsOfPlan(p apigen.Plan) []string {
	var out []string
	for _, a := range p.Attempts {
		out = append(out, tlsOf(a))
	}
	return out
}

func findingCodes(t *testing.T, s *testServer, domain string) []string {
	t.Helper()
	var r apigen.CheckReport
	if code := s.getJSON("/check?domain="+domain, &r); code != http.StatusOK {
		t.Fatalf("/check?domain=%s: status %d", domain, code)
	}
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Code)
	}
	return out
}

// TestRouteDANE: /route through the real router, resolving through a
// real validating unbound in front of signed and unsigned zones.
func TestRouteDANE(t *testing.T) {
	r := dnssectest.Start(t,
		dnssectest.Zone{Text: daneZone, Bogus: []string{"_25._tcp.mx3.dane.test. TLSA"}},
		dnssectest.Zone{Text: plainDANEZone, Unsigned: true})
	ca := mtaststest.NewCA(t)
	policies := mtaststest.NewPolicies()
	policies.Set("dane.test", "version: STSv1\nmode: enforce\nmx: *.dane.test\nmax_age: 86400\n")
	https := mtaststest.NewServer(t, ca.Valid(t, "mta-sts.dane.test"), policies)
	env := map[string]string{
		"MXROUTE_DNS_SERVERS": r.Addr, "MXROUTE_ZONE_FILES": "none", "MXROUTE_DNSSEC_VALIDATING": "true",
		"MXROUTE_MTA_STS_CA_FILE": ca.PEMFile(t), "MXROUTE_MTA_STS_PORT": strconv.Itoa(https.Port()),
		"MXROUTE_MTA_STS_ALLOW_LOOPBACK": "true",
	}
	s := startServer(t, env)

	p := s.route("dane.test")
	if got := tlsOfPlan(p); !slices.Equal(got, []string{"mx1.dane.test dane 311:c0ffee", "mx2.dane.test tls"}) || p.Tls.Policy != "dane" || p.Tls.Mode != "enforce" {
		t.Errorf("dane.test: %q, tls %s/%s; want DANE first for mx1, MTA-STS for mx2", got, p.Tls.Policy, p.Tls.Mode)
	}
	p = s.route("bogus.dane.test")
	if p.Disposition != apigen.TemporaryFailure || len(p.Skipped) != 1 || p.Skipped[0].Reason != "tlsa_lookup_failed" {
		t.Errorf("bogus.dane.test: %s, skipped %+v; want a temporary failure, mx3 skipped for its forged TLSA", p.Disposition, p.Skipped)
	}
	if p = s.route("plain.test"); !slices.Equal(tlsOfPlan(p), []string{"mx.plain.test"}) || p.Tls.Policy != "none" {
		t.Errorf("plain.test: %q, tls %s; want the unsigned TLSA ignored", tlsOfPlan(p), p.Tls.Policy)
	}
	if got := findingCodes(t, s, "plain.test"); !slices.Contains(got, "DANE_TLSA_UNVALIDATED") {
		t.Errorf("/check plain.test: %v; want DANE_TLSA_UNVALIDATED", got)
	}
	if got := findingCodes(t, s, "bogus.dane.test"); !slices.Contains(got, "DANE_TLSA_LOOKUP_FAILED") {
		t.Errorf("/check bogus.dane.test: %v; want DANE_TLSA_LOOKUP_FAILED", got)
	}

	// The same resolver, not trusted to validate: no DANE at all.
	env["MXROUTE_DNSSEC_VALIDATING"] = "false"
	s = startServer(t, env)
	if p := s.route("dane.test"); !slices.Equal(tlsOfPlan(p), []string{"mx1.dane.test tls", "mx2.dane.test tls"}) || p.Tls.Policy != "mta-sts" {
		t.Errorf("not validating: %q, tls %s; want MTA-STS only", tlsOfPlan(p), p.Tls.Policy)
	}
	if p := s.route("bogus.dane.test"); p.Disposition != apigen.Deliver {
		t.Errorf("not validating, bogus.dane.test: %s; want deliver (no TLSA lookup)", p.Disposition)
	}

	// The CLI shows DANE as /route does (it fetches no MTA-STS policy).
	env["MXROUTE_DNSSEC_VALIDATING"] = "true"
	out, _, err := runCLI(t, env, "route", "dane.test")
	if err != nil || !strings.Contains(out, "tls          dane\n") || !strings.Contains(out, "dane [3 1 1]") {
		t.Errorf("route command: %v\n%s", err, out)
	}
}
