package check

import (
	"context"
	"slices"
	"testing"

	"github.com/mxroute/mxroute/internal/dnssectest"
	"github.com/mxroute/mxroute/internal/resolver"
)

func TestGradeDANE(t *testing.T) {
	ok := Lookup{Outcome: OutcomeOK}
	fail := Lookup{Outcome: OutcomeServFail, Detail: "SERVFAIL"}
	cases := []struct {
		name string
		host HostData
		want []string
	}{
		{"not checked", HostData{Host: "mx.example", A: ok}, nil},
		{"validated", HostData{Host: "mx.example", A: ok, Secure: true, TLSA: &TLSAData{Lookup: ok, Records: 1, Secure: true}}, nil},
		{"none published", HostData{Host: "mx.example", A: ok, TLSA: &TLSAData{Lookup: ok}}, nil},
		{"unvalidated", HostData{Host: "mx.example", A: ok, TLSA: &TLSAData{Lookup: ok, Records: 2}}, []string{"DANE_TLSA_UNVALIDATED/warning"}},
		{"failed, signed zone", HostData{Host: "mx.example", A: ok, Secure: true, TLSA: &TLSAData{Lookup: fail}}, []string{"DANE_TLSA_LOOKUP_FAILED/error"}},
		{"failed, unsigned zone", HostData{Host: "mx.example", A: ok, TLSA: &TLSAData{Lookup: fail}}, nil},
		{"NXDOMAIN, signed zone", HostData{Host: "mx.example", A: ok, Secure: true, TLSA: &TLSAData{Lookup: Lookup{Outcome: OutcomeNXDomain}}}, nil},
	}
	for _, c := range cases {
		g := newGrader(Data{Domain: "example", Hosts: []HostData{c.host}})
		g.gradeDANE()
		var got []string
		for _, f := range g.findings {
			got = append(got, f.Code+"/"+string(f.Level))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

const checkDANEZone = `
sig.test.                 300 IN SOA  ns.sig.test. hostmaster.sig.test. 1 3600 600 86400 60
sig.test.                 300 IN NS   ns.sig.test.
ns.sig.test.              300 IN A    127.0.0.1
sig.test.                 300 IN MX   10 mx1.sig.test.
sig.test.                 300 IN MX   20 mx2.sig.test.
mx1.sig.test.             300 IN A    192.0.2.1
mx2.sig.test.             300 IN A    192.0.2.2
_25._tcp.mx1.sig.test.    300 IN TLSA 3 1 1 00ff
_25._tcp.mx2.sig.test.    300 IN TLSA 3 1 1 00ff
`

const checkPlainZone = `
plain.test.               300 IN SOA  ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 60
plain.test.               300 IN MX   10 mx.plain.test.
mx.plain.test.            300 IN A    192.0.2.9
_25._tcp.mx.plain.test.   300 IN TLSA 3 1 1 00ff
`

// TestRunDANE: the findings from a real validating unbound.
func TestRunDANE(t *testing.T) {
	r := dnssectest.Start(t,
		dnssectest.Zone{Text: checkDANEZone, Bogus: []string{"_25._tcp.mx2.sig.test. TLSA"}},
		dnssectest.Zone{Text: checkPlainZone, Unsigned: true})
	c, err := resolver.New(resolver.Config{Servers: []string{r.Addr}, Validating: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	codes := func(domain string, dane bool) map[string][]string {
		rep, err := Run(context.Background(), c, domain, Options{DANE: dane})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, f := range rep.Findings {
			out[f.Code] = f.Hosts
		}
		return out
	}
	got := codes("sig.test", true)
	if !slices.Equal(got[CodeDANELookupFailed], []string{"mx2.sig.test"}) || got[CodeDANEUnvalidated] != nil {
		t.Errorf("sig.test: %v; want mx2's forged TLSA as a failed lookup and nothing else about DANE", got)
	}
	got = codes("plain.test", true)
	if !slices.Equal(got[CodeDANEUnvalidated], []string{"mx.plain.test"}) {
		t.Errorf("plain.test: %v; want its TLSA reported unvalidated", got)
	}
	if got = codes("plain.test", false); got[CodeDANEUnvalidated] != nil {
		t.Errorf("plain.test without DANE: %v; want no DANE finding", got)
	}
}
