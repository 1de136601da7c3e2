package dnssectest_test

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/dnssectest"
)

const signedZone = `
signed.test.              300 IN SOA  ns.signed.test. hostmaster.signed.test. 1 3600 600 86400 60
signed.test.              300 IN NS   ns.signed.test.
ns.signed.test.           300 IN A    127.0.0.1
mx.signed.test.           300 IN A    192.0.2.1
_25._tcp.mx.signed.test.  300 IN TLSA 3 1 1 00ff
bad.signed.test.          300 IN A    192.0.2.2
_25._tcp.bad.signed.test. 300 IN TLSA 3 1 1 00ff
`

const plainZone = `
plain.test.               300 IN SOA  ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 60
mx.plain.test.            300 IN A    192.0.2.3
_25._tcp.mx.plain.test.   300 IN TLSA 3 1 1 00ff
`

func query(t *testing.T, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.AuthenticatedData = true
	r, _, err := new(dns.Client).Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.Type(qtype), err)
	}
	return r
}

// TestValidation: the resolver's AD bit and SERVFAIL are unbound's
// verdicts on real signatures.
func TestValidation(t *testing.T) {
	r := dnssectest.Start(t,
		dnssectest.Zone{Text: signedZone, Bogus: []string{"_25._tcp.bad.signed.test. TLSA"}},
		dnssectest.Zone{Text: plainZone, Unsigned: true})
	if len(r.Anchors) != 1 {
		t.Fatalf("anchors %q, want the signed zone's key", r.Anchors)
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		ad    bool
		n     int
	}{
		{"_25._tcp.mx.signed.test.", dns.TypeTLSA, dns.RcodeSuccess, true, 1},
		{"mx.signed.test.", dns.TypeA, dns.RcodeSuccess, true, 1},
		{"mx.signed.test.", dns.TypeAAAA, dns.RcodeSuccess, true, 0},
		{"_25._tcp.nothere.signed.test.", dns.TypeTLSA, dns.RcodeNameError, true, 0},
		{"_25._tcp.bad.signed.test.", dns.TypeTLSA, dns.RcodeServerFailure, false, 0},
		{"bad.signed.test.", dns.TypeA, dns.RcodeSuccess, true, 1},
		{"_25._tcp.mx.plain.test.", dns.TypeTLSA, dns.RcodeSuccess, false, 1},
		{"elsewhere.example.", dns.TypeA, dns.RcodeServerFailure, false, 0},
	} {
		m := query(t, r.Addr, tc.name, tc.qtype)
		if m.Rcode != tc.rcode || m.AuthenticatedData != tc.ad || len(m.Answer) != tc.n {
			t.Errorf("%s %s: %s AD=%v %d answers, want %s AD=%v %d", tc.name, dns.Type(tc.qtype),
				dns.RcodeToString[m.Rcode], m.AuthenticatedData, len(m.Answer), dns.RcodeToString[tc.rcode], tc.ad, tc.n)
		}
	}
}
