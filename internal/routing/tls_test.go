package routing

import (
	"slices"
	"testing"
	"time"
)

func TestMatchMXPattern(t *testing.T) {
	cases := []struct {
		pat, host string
		want      bool
	}{
		{"mx.example.net", "mx.example.net", true},
		{"mx.example.net", "mx2.example.net", false},
		{"*.example.net", "mx.example.net", true},
		{"*.example.net", "example.net", false},
		{"*.example.net", "a.b.example.net", false},
		{"*.example.net", ".example.net", false},
		{"*.mail.example.net", "mx1.mail.example.net", true},
		{"*.example.net", "mx.example.net.evil", false},
	}
	for _, c := range cases {
		if got := MatchMXPattern(c.pat, c.host); got != c.want {
			t.Errorf("MatchMXPattern(%q, %q) = %v, want %v", c.pat, c.host, got, c.want)
		}
	}
}

// stsInput has three hosts: two under mail.example.net, one elsewhere.
func stsInput(mode STSMode, patterns ...string) Input {
	in := dom(mxOK(MX{10, "mx1.mail.example.net"}, MX{20, "mx2.mail.example.net"}, MX{30, "backup.other.example"}), map[string]HostAnswers{
		"mx1.mail.example.net": only4("192.0.2.1"),
		"mx2.mail.example.net": only4("192.0.2.2"),
		"backup.other.example": only4("192.0.2.3"),
	})
	in.STS = STSInput{Policy: &STSPolicy{Mode: mode, ID: "20260101", MaxAge: 86400 * time.Second, MX: patterns, Source: SourceCached}}
	return in
}

func TestBuildMTASTS(t *testing.T) {
	cases := []struct {
		name                     string
		in                       Input
		disp                     Disposition
		reason                   Reason
		status                   string
		attempts, skipped, warns []string
		required                 bool
		kind                     TLSKind
	}{
		{
			name: "enforce, every host matches", in: stsInput(STSEnforce, "*.mail.example.net", "backup.other.example"),
			disp: Deliver, reason: ReasonOK, required: true, kind: TLSMTASTS,
			attempts: []string{"mx1.mail.example.net/10/192.0.2.1", "mx2.mail.example.net/20/192.0.2.2", "backup.other.example/30/192.0.2.3"},
			skipped:  []string{}, warns: []string{},
		},
		{
			name: "enforce, partly matching", in: stsInput(STSEnforce, "*.mail.example.net"),
			disp: Deliver, reason: ReasonOK, required: true, kind: TLSMTASTS,
			attempts: []string{"mx1.mail.example.net/10/192.0.2.1", "mx2.mail.example.net/20/192.0.2.2"},
			skipped:  []string{"backup.other.example/30/-/mta_sts_mismatch"}, warns: []string{},
		},
		{
			name: "enforce, nothing matches", in: stsInput(STSEnforce, "*.elsewhere.example"),
			disp: TemporaryFailure, reason: ReasonSTSNoMatchingMX, status: "4.7.5", kind: TLSMTASTS,
			attempts: []string{},
			skipped: []string{"backup.other.example/30/-/mta_sts_mismatch", "mx1.mail.example.net/10/-/mta_sts_mismatch",
				"mx2.mail.example.net/20/-/mta_sts_mismatch"},
			warns: []string{},
		},
		{
			name: "testing filters nothing and warns", in: stsInput(STSTesting, "*.mail.example.net"),
			disp: Deliver, reason: ReasonOK, kind: TLSMTASTS,
			attempts: []string{"mx1.mail.example.net/10/192.0.2.1", "mx2.mail.example.net/20/192.0.2.2", "backup.other.example/30/192.0.2.3"},
			skipped:  []string{}, warns: []string{"mta_sts_testing_mismatch/backup.other.example"},
		},
		{
			name: "mode none is no policy", in: stsInput(STSNone, "*.elsewhere.example"),
			disp: Deliver, reason: ReasonOK, kind: TLSNone,
			attempts: []string{"mx1.mail.example.net/10/192.0.2.1", "mx2.mail.example.net/20/192.0.2.2", "backup.other.example/30/192.0.2.3"},
			skipped:  []string{}, warns: []string{},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Build(c.in, nil, seeded(1))
			if p.Disposition != c.disp || p.Reason != c.reason || p.EnhancedStatus != c.status {
				t.Errorf("got %s %s %q, want %s %s %q", p.Disposition, p.Reason, p.EnhancedStatus, c.disp, c.reason, c.status)
			}
			if got := attemptsOf(p); !slices.Equal(got, c.attempts) {
				t.Errorf("attempts %v, want %v", got, c.attempts)
			}
			if got := skippedOf(p); !slices.Equal(got, c.skipped) {
				t.Errorf("skipped %v, want %v", got, c.skipped)
			}
			if got := warningsOf(p); !slices.Equal(got, c.warns) {
				t.Errorf("warnings %v, want %v", got, c.warns)
			}
			for _, a := range p.Attempts {
				if a.TLSRequired != c.required || (c.required && !slices.Equal(a.TLSNames, []string{a.Host})) || a.DANE {
					t.Errorf("attempt %s: tls_required %v names %v dane %v, want required %v", a.Host, a.TLSRequired, a.TLSNames, a.DANE, c.required)
				}
			}
			if p.TLS.Kind != c.kind || p.TLS.STS != c.in.STS.Policy {
				t.Errorf("plan tls %+v, want kind %s with the input's policy", p.TLS, c.kind)
			}
		})
	}
}

func TestBuildMTASTSImplicitMX(t *testing.T) {
	in := dom(mxOK(), map[string]HostAnswers{"example.com": only4("192.0.2.9")})
	in.STS = STSInput{Policy: &STSPolicy{Mode: STSEnforce, MX: []string{"mx.example.com"}}}
	p := Build(in, nil, seeded(1))
	if p.Disposition != TemporaryFailure || p.Reason != ReasonSTSNoMatchingMX {
		t.Errorf("got %s %s, want the implicit MX rejected by the policy", p.Disposition, p.Reason)
	}
}

func TestBuildSTSFetchFailed(t *testing.T) {
	in := stsInput(STSEnforce, "*.mail.example.net")
	in.STS.FetchFailed = "timeout"
	p := Build(in, nil, seeded(1))
	if !slices.Equal(warningsOf(p), []string{"mta_sts_fetch_failed/"}) || len(p.Attempts) != 2 {
		t.Errorf("warnings %v, attempts %v: want the cached policy enforced with a warning", warningsOf(p), attemptsOf(p))
	}
	in.STS.Policy = nil
	p = Build(in, nil, seeded(1))
	if len(p.Attempts) != 3 || p.TLS.Kind != TLSNone || p.Attempts[0].TLSRequired {
		t.Errorf("attempts %v, tls %+v: want plain delivery without a policy", attemptsOf(p), p.TLS)
	}
}

func TestBuildDANE(t *testing.T) {
	ee := TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: "abcd"}
	pkix := TLSA{Usage: 1, Selector: 1, MatchingType: 1, Data: "ef01"}
	secure := func(v4 string) HostAnswers {
		h := only4(v4)
		h.V4.Secure = true
		return h
	}
	t.Run("validated TLSA, and DANE before MTA-STS", func(t *testing.T) {
		in := stsInput(STSEnforce, "*.mail.example.net")
		h := secure("192.0.2.3")
		h.TLSA = TLSAAnswer{Looked: true, Secure: true, Records: []TLSA{pkix, ee}, TTL: 30 * time.Second}
		in.Hosts["backup.other.example"] = h
		p := Build(in, nil, seeded(1))
		if len(p.Attempts) != 3 {
			t.Fatalf("attempts %v: the DANE host must not be filtered by the MTA-STS patterns", attemptsOf(p))
		}
		b := p.Attempts[2]
		if !b.DANE || !b.TLSRequired || !slices.Equal(b.TLSA, []TLSA{ee}) || !slices.Equal(b.TLSNames, []string{"backup.other.example"}) {
			t.Errorf("DANE attempt %+v: want dane, required, only the usable record", b)
		}
		if p.Attempts[0].DANE || !p.Attempts[0].TLSRequired {
			t.Errorf("first attempt %+v: want MTA-STS (required, no DANE)", p.Attempts[0])
		}
		if p.TLS.Kind != TLSDANE || p.TTL != 30*time.Second {
			t.Errorf("kind %s ttl %v: want dane and the TLSA TTL", p.TLS.Kind, p.TTL)
		}
	})
	t.Run("TLSA without AD is ignored", func(t *testing.T) {
		in := stsInput(STSNone)
		in.Hosts["mx1.mail.example.net"] = HostAnswers{V4: ok("192.0.2.1"), TLSA: TLSAAnswer{Looked: true, Records: []TLSA{ee}}}
		p := Build(in, nil, seeded(1))
		if p.Attempts[0].DANE || p.Attempts[0].TLSRequired || p.TLS.Kind != TLSNone {
			t.Errorf("attempt %+v, kind %s: unvalidated TLSA must not be used", p.Attempts[0], p.TLS.Kind)
		}
	})
	t.Run("TLSA SERVFAIL on a signed zone", func(t *testing.T) {
		in := stsInput(STSNone)
		for _, n := range []string{"mx1.mail.example.net", "mx2.mail.example.net", "backup.other.example"} {
			h := secure(in.Hosts[n].V4.Addrs[0].String())
			h.TLSA = TLSAAnswer{Looked: true, Status: StatusTempFail}
			in.Hosts[n] = h
		}
		unsigned := in.Hosts["backup.other.example"]
		unsigned.V4.Secure = false
		in.Hosts["backup.other.example"] = unsigned
		p := Build(in, nil, seeded(1))
		if got := attemptsOf(p); !slices.Equal(got, []string{"backup.other.example/30/192.0.2.3"}) {
			t.Errorf("attempts %v: want only the unsigned host", got)
		}
		in.Hosts["backup.other.example"] = HostAnswers{V4: AddrAnswer{Status: StatusNXDomain, TTL: negTTL}}
		p = Build(in, nil, seeded(1))
		if p.Disposition != TemporaryFailure || p.Reason != ReasonDNSError {
			t.Errorf("got %s %s: no usable host because of TLSA failures is temporary", p.Disposition, p.Reason)
		}
	})
}
