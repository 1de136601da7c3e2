package main

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback/redistest"
	"github.com/mxroute/mxroute/internal/mtasts/mtaststest"
	"github.com/mxroute/mxroute/internal/resolver/dnstest"
)

// stsZone: domains whose MX hosts match their MTA-STS policies fully, in
// part and not at all, one in testing mode, and policy hosts on loopback.
// The TXT records have a 1 s TTL so a test can change them.
const stsZone = `
test.            60 IN SOA ns.test. h.test. 1 60 60 60 60
full.test.       60 IN MX 10 mx1.mail.test.
full.test.       60 IN MX 20 mx2.mail.test.
part.test.       60 IN MX 10 mx1.mail.test.
part.test.       60 IN MX 20 other.elsewhere.test.
none.test.       60 IN MX 10 other.elsewhere.test.
testing.test.    60 IN MX 10 mx1.mail.test.
testing.test.    60 IN MX 20 other.elsewhere.test.
plain.test.      60 IN MX 10 mx1.mail.test.
nopolicy.test.   60 IN MX 10 mx1.mail.test.
short.test.      60 IN MX 10 mx1.mail.test.
_mta-sts.nopolicy.test. 1 IN TXT "v=STSv1; id=1;"
_mta-sts.short.test.    1 IN TXT "v=STSv1; id=1;"
mta-sts.nopolicy.test.  60 IN A 127.0.0.1
mta-sts.short.test.     60 IN A 127.0.0.1
_mta-sts.full.test.    1 IN TXT "v=STSv1; id=1;"
_mta-sts.part.test.    1 IN TXT "v=STSv1; id=1;"
_mta-sts.none.test.    1 IN TXT "v=STSv1; id=1;"
_mta-sts.testing.test. 1 IN TXT "v=STSv1; id=1;"
mta-sts.full.test.     60 IN A 127.0.0.1
mta-sts.part.test.     60 IN A 127.0.0.1
mta-sts.none.test.     60 IN A 127.0.0.1
mta-sts.testing.test.  60 IN A 127.0.0.1
mx1.mail.test.         60 IN A 192.0.2.1
mx2.mail.test.         60 IN A 192.0.2.2
other.elsewhere.test.  60 IN A 192.0.2.3
`

const enforceMail = "version: STSv1\r\nmode: enforce\r\nmx: *.mail.test\r\nmax_age: 86400\r\n"

type stsFixture struct {
	dns      *dnstest.Server
	https    *mtaststest.Server
	policies *mtaststest.Policies
	env      map[string]string
}

func newSTSFixture(t testing.TB) *stsFixture {
	ca := mtaststest.NewCA(t)
	f := &stsFixture{dns: dnstest.NewServer(t, stsZone), policies: mtaststest.NewPolicies()}
	for _, d := range []string{"full.test", "part.test", "none.test"} {
		f.policies.Set(d, enforceMail)
	}
	f.policies.Set("testing.test", "version: STSv1\nmode: testing\nmx: *.mail.test\nmax_age: 86400\n")
	f.policies.Set("short.test", "version: STSv1\nmode: enforce\nmx: *.mail.test\nmax_age: 300\n")
	f.https = mtaststest.NewServer(t, ca.Valid(t, "mta-sts.full.test", "mta-sts.part.test", "mta-sts.none.test", "mta-sts.testing.test",
		"mta-sts.nopolicy.test", "mta-sts.short.test"), f.policies)
	f.env = map[string]string{
		"MXROUTE_DNS_SERVERS": f.dns.Addr(), "MXROUTE_ZONE_FILES": "none", "MXROUTE_CACHE_MIN_TTL": "0s",
		"MXROUTE_MTA_STS_CA_FILE": ca.PEMFile(t), "MXROUTE_MTA_STS_PORT": strconv.Itoa(f.https.Port()),
		"MXROUTE_MTA_STS_ALLOW_LOOPBACK": "true",
	}
	return f
}

// setTXT answers the domain's _mta-sts TXT query with id, TTL 1 s.
func (f *stsFixture) setTXT(domain, id string) {
	name := "_mta-sts." + domain + "."
	f.dns.Handle(name, dns.TypeTXT, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}, Txt: []string{"v=STSv1; id=" + id + ";"}}}
		return m
	})
}

func hostsOf(p apigen.Plan) []string {
	var out []string
	for _, a := range p.Attempts {
		out = append(out, a.Host)
		if !a.TlsRequired || a.TlsNames == nil || !slices.Equal(*a.TlsNames, []string{a.Host}) {
			out[len(out)-1] += "(no tls)"
		}
	}
	return out
}

func skippedReasons(p apigen.Plan) []string {
	var out []string
	for _, s := range p.Skipped {
		out = append(out, s.Host+"/"+string(s.Reason))
	}
	return out
}

func TestRouteMTASTS(t *testing.T) {
	f := newSTSFixture(t)
	s := startServer(t, f.env)

	p := s.route("full.test")
	if got := hostsOf(p); !slices.Equal(got, []string{"mx1.mail.test", "mx2.mail.test"}) || p.Tls.Policy != "mta-sts" || p.Tls.Mode != "enforce" ||
		*p.Tls.PolicyId != "1" || *p.Tls.Source != "fresh" || *p.Tls.MaxAge != 86400 || !slices.Equal(*p.Tls.MxPatterns, []string{"*.mail.test"}) {
		t.Errorf("full.test: attempts %v, tls %+v; want both hosts with TLS required under a fresh enforce policy", got, p.Tls)
	}
	if p = s.route("full.test"); *p.Tls.Source != "cached" {
		t.Errorf("second plan: source %s, want cached", *p.Tls.Source)
	}

	p = s.route("part.test")
	if got := hostsOf(p); !slices.Equal(got, []string{"mx1.mail.test"}) || !slices.Equal(skippedReasons(p), []string{"other.elsewhere.test/mta_sts_mismatch"}) {
		t.Errorf("part.test: attempts %v, skipped %v; want the non-matching host skipped", got, skippedReasons(p))
	}

	p = s.route("none.test")
	if p.Disposition != "temporary_failure" || p.Reason != "mta_sts_no_matching_mx" || p.EnhancedStatus == nil || *p.EnhancedStatus != "4.7.5" || len(p.Attempts) != 0 {
		t.Errorf("none.test: %s %s %v, attempts %v; want temporary_failure mta_sts_no_matching_mx 4.7.5", p.Disposition, p.Reason, p.EnhancedStatus, addrs(p))
	}

	p = s.route("testing.test")
	if got := hostsOf(p); !slices.Equal(got, []string{"mx1.mail.test(no tls)", "other.elsewhere.test(no tls)"}) || p.Tls.Mode != "testing" ||
		len(p.Warnings) != 1 || p.Warnings[0].Code != "mta_sts_testing_mismatch" || *p.Warnings[0].Host != "other.elsewhere.test" {
		t.Errorf("testing.test: attempts %v, warnings %+v; want everything, TLS not required, a warning naming the mismatch", got, p.Warnings)
	}

	p = s.route("plain.test")
	if p.Tls.Policy != "none" || p.Tls.Mode != "none" || p.Attempts[0].TlsRequired {
		t.Errorf("plain.test: tls %+v, attempt %+v; want no policy", p.Tls, p.Attempts[0])
	}
	if n := f.https.Requests("mta-sts.full.test"); n != 1 {
		t.Errorf("%d fetches of full.test's policy, want 1", n)
	}
}

// TestRouteMTASTSPolicyChanges: a new TXT id fetches the new policy; when
// the next fetch fails the cached policy keeps enforcing, and without a
// cached one the plan says the fetch failed and delivers without it.
func TestRouteMTASTSPolicyChanges(t *testing.T) {
	f := newSTSFixture(t)
	s := startServer(t, f.env)
	if got := hostsOf(s.route("part.test")); len(got) != 1 {
		t.Fatalf("attempts %v, want the enforce policy applied", got)
	}

	// New id, the policy now lists the other host too.
	f.policies.Set("part.test", "version: STSv1\nmode: enforce\nmx: *.mail.test\nmx: *.elsewhere.test\nmax_age: 600\n")
	f.setTXT("part.test", "2")
	eventually(t, "the new policy", func() bool { p := s.route("part.test"); return len(p.Attempts) == 2 && *p.Tls.PolicyId == "2" })

	// The policy host fails and the id changes again: still enforced.
	f.https.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusInternalServerError) }))
	f.setTXT("part.test", "3")
	var p apigen.Plan
	eventually(t, "a failed refresh", func() bool { p = s.route("part.test"); return *p.Tls.Source == "stale" })
	if len(p.Attempts) != 2 || !p.Attempts[0].TlsRequired || *p.Tls.PolicyId != "2" || p.Warnings[0].Code != "mta_sts_fetch_failed" {
		t.Errorf("attempts %v, tls %+v, warnings %+v; want policy 2 still enforced with a warning", hostsOf(p), p.Tls, p.Warnings)
	}

	// A domain never fetched successfully: no policy, with the warning.
	p = s.route("full.test")
	if p.Tls.Policy != "none" || len(p.Attempts) != 2 || p.Attempts[0].TlsRequired || len(p.Warnings) != 1 || p.Warnings[0].Code != "mta_sts_fetch_failed" {
		t.Errorf("full.test with the policy host down: tls %+v, attempts %v, warnings %+v", p.Tls, hostsOf(p), p.Warnings)
	}
}

// TestRouteMTASTSFleetFetchesOnce: two replicas sharing one real Redis,
// asked for the same domain at the same moment, fetch its policy once.
func TestRouteMTASTSFleetFetchesOnce(t *testing.T) {
	f := newSTSFixture(t)
	rs := redistest.StartServer(t)
	f.env["MXROUTE_REDIS_URL"] = "redis://" + rs.Addr()
	a, b := startServer(t, f.env), startServer(t, f.env)
	var wg sync.WaitGroup
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			var p apigen.Plan
			if code := s.getJSON("/route?domain=part.test", &p); code != http.StatusOK || len(p.Attempts) != 1 {
				t.Errorf("plan %d: status %d, attempts %v", i, code, hostsOf(p))
			}
		})
	}
	wg.Wait()
	if n := f.https.Requests("mta-sts.part.test"); n != 1 {
		t.Errorf("%d HTTPS requests for the policy from two replicas, want 1", n)
	}
}

// TestCheckMTASTS: /check reports the MTA_STS_* findings; do() validates
// each report against the contract.
func TestCheckMTASTS(t *testing.T) {
	f := newSTSFixture(t)
	s := startServer(t, f.env)
	for _, tc := range []struct {
		domain string
		want   []string // code/level of the MTA-STS findings
	}{
		{"full.test", nil},
		{"part.test", []string{"MTA_STS_MX_MISMATCH/error"}},
		{"none.test", []string{"MTA_STS_MX_MISMATCH/error"}},
		{"testing.test", []string{"MTA_STS_MX_MISMATCH/warning"}},
		{"nopolicy.test", []string{"MTA_STS_POLICY_UNFETCHABLE/error"}},
		{"short.test", []string{"MTA_STS_MAX_AGE_SHORT/warning"}},
		{"plain.test", []string{"MTA_STS_MISSING/info"}},
	} {
		var r apigen.CheckReport
		if code := s.getJSON("/check?domain="+tc.domain, &r); code != http.StatusOK {
			t.Fatalf("%s: status %d", tc.domain, code)
		}
		var got []string
		for _, fd := range r.Findings {
			if strings.HasPrefix(fd.Code, "MTA_STS_") {
				got = append(got, fd.Code+"/"+string(fd.Level))
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: MTA-STS findings %v, want %v", tc.domain, got, tc.want)
		}
	}
}

// TestMTASTSFetchErrorNamesNoSocket: a policy host that refuses the
// connection shows in plans and /check as "connect failed" only: no
// address, port or "refused" a domain owner could use to probe what
// mxroute can reach. The full error goes to the log.
func TestMTASTSFetchErrorNamesNoSocket(t *testing.T) {
	f := newSTSFixture(t)
	// mta-sts.nopolicy.test moves to 127.0.0.7, where nothing listens.
	f.dns.Handle("mta-sts.nopolicy.test.", dns.TypeA, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "mta-sts.nopolicy.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 7)}}
		return m
	})
	s := startServer(t, f.env)
	leaks := []string{"127.0.0.7", strconv.Itoa(f.https.Port()), "refused", "dial"}
	_, plan, _ := s.do(http.MethodGet, "/route?domain=nopolicy.test", nil, nil)
	_, report, _ := s.do(http.MethodGet, "/check?domain=nopolicy.test", nil, nil)
	for name, body := range map[string][]byte{"plan": plan, "check": report} {
		if !strings.Contains(string(body), "connect failed") {
			t.Errorf("%s does not say the connection failed: %s", name, body)
		}
		for _, l := range leaks {
			if strings.Contains(string(body), l) {
				t.Errorf("%s contains %q: %s", name, l, body)
			}
		}
	}
	if !strings.Contains(s.Stderr.String(), "127.0.0.7") {
		t.Errorf("the log does not carry the full fetch error:\n%s", s.Stderr)
	}
}

// BenchmarkWarmSTS is GET /route for full.test (an enforce policy both MX
// hosts match) once plan and policy are cached, with MXROUTE_MTA_STS on
// and off, over loopback HTTP with parallel clients: the in-process
// counterpart of bench/run.sh tls, for a CPU profile of the difference.
func BenchmarkWarmSTS(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run("mta_sts="+strconv.FormatBool(on), func(b *testing.B) {
			f := newSTSFixture(b)
			f.env["MXROUTE_MTA_STS"] = strconv.FormatBool(on)
			f.env["MXROUTE_CACHE_MIN_TTL"] = "30s"
			s := startServer(b, f.env)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			url := s.URL + "/route?domain=full.test"
			benchGet(b, client, url) // fetches and caches the policy
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					benchGet(b, client, url)
				}
			})
		})
	}
}
