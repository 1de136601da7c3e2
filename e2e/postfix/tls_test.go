//go:build postfix_e2e

package postfixe2e

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/dnssectest"
	"github.com/mxroute/mxroute/internal/mtasts/mtaststest"
)

// tlsZone publishes MTA-STS for three domains. Each has a host its policy
// names (MX 10) and other.<domain> on 127.0.0.5, which the policy excludes
// and which is the preferred MX (MX 5): following DNS alone would go there
// first. The named hosts: 127.0.0.4 with a certificate for its name from
// the test CA; 127.0.0.6 with one from the test CA for another name;
// 127.0.0.7 with one for its name from a CA nobody trusts.
const tlsZone = `sts.test.            IN SOA ns.e2e.test. hostmaster.e2e.test. 1 60 60 60 60
sts.test.            IN MX 10 mx.sts.test.
sts.test.            IN MX 5 other.sts.test.
mx.sts.test.         IN A 127.0.0.4
other.sts.test.      IN A 127.0.0.5
_mta-sts.sts.test.   IN TXT "v=STSv1; id=20261206"
mta-sts.sts.test.    IN A 127.0.0.1
badname.test.            IN SOA ns.e2e.test. hostmaster.e2e.test. 1 60 60 60 60
badname.test.            IN MX 10 mx.badname.test.
badname.test.            IN MX 5 other.badname.test.
mx.badname.test.         IN A 127.0.0.6
other.badname.test.      IN A 127.0.0.5
_mta-sts.badname.test.   IN TXT "v=STSv1; id=20261206"
mta-sts.badname.test.    IN A 127.0.0.1
otherca.test.            IN SOA ns.e2e.test. hostmaster.e2e.test. 1 60 60 60 60
otherca.test.            IN MX 10 mx.otherca.test.
otherca.test.            IN MX 5 other.otherca.test.
mx.otherca.test.         IN A 127.0.0.7
other.otherca.test.      IN A 127.0.0.5
_mta-sts.otherca.test.   IN TXT "v=STSv1; id=20261206"
mta-sts.otherca.test.    IN A 127.0.0.1
`

// tlsWorld is the TLS side of the e2e: a test CA made at start, the
// loopback HTTPS server of the policies, and the STARTTLS sinks.
type tlsWorld struct {
	caFile   string
	policies *mtaststest.Server
	good     *sink // 127.0.0.4: the policy's host, a valid certificate
	excluded *sink // 127.0.0.5: valid certificate, excluded by every policy
	badName  *sink // 127.0.0.6: the test CA's certificate for another name
	otherCA  *sink // 127.0.0.7: its name, but from an untrusted CA

	// DANE (case j): TLSA DANE-EE SHA-256 digests of public keys.
	daneGood *sink  // 127.0.0.8: untrusted CA, another name; its key is pinned
	daneBad  *sink  // 127.0.0.9: the test CA, its name; another key is pinned
	goodPin  string // digest of 127.0.0.8's key
	otherPin string // digest of a key no sink has
}

func startTLSWorld(t *testing.T, dir string) *tlsWorld {
	ca, rogue := mtaststest.NewCA(t), mtaststest.NewCA(t)
	w := &tlsWorld{caFile: filepath.Join(dir, "ca.pem")}
	pem, err := os.ReadFile(ca.PEMFile(t))
	if err != nil {
		t.Fatal(err)
	}
	// Postfix's smtp(8) reads it: world-readable in a world-readable folder.
	if err := os.WriteFile(w.caFile, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	p := mtaststest.NewPolicies()
	for _, d := range []string{"sts.test", "badname.test", "otherca.test"} {
		p.Set(d, fmt.Sprintf("version: STSv1\nmode: enforce\nmx: mx.%s\nmax_age: 86400\n", d))
	}
	w.policies = mtaststest.NewServer(t, ca.Valid(t, "mta-sts.sts.test", "mta-sts.badname.test", "mta-sts.otherca.test"), p)
	at := func(a string) string { return fmt.Sprintf("%s:%d", a, sinkPort) }
	w.good = newTLSSink(t, at("127.0.0.4"), ca.Valid(t, "mx.sts.test"))
	w.excluded = newTLSSink(t, at("127.0.0.5"), ca.Valid(t, "other.sts.test", "other.badname.test", "other.otherca.test"))
	w.badName = newTLSSink(t, at("127.0.0.6"), ca.Valid(t, "mx.elsewhere.test"))
	w.otherCA = newTLSSink(t, at("127.0.0.7"), rogue.Valid(t, "mx.otherca.test"))
	good := rogue.Valid(t, "not-the-mx.test")
	w.daneGood, w.goodPin = newTLSSink(t, at("127.0.0.8"), good), spkiSHA256(t, good)
	w.daneBad = newTLSSink(t, at("127.0.0.9"), ca.Valid(t, "mx2.dane.test"))
	w.otherPin = spkiSHA256(t, ca.Valid(t, "mx2.dane.test"))
	return w
}

// spkiSHA256 is the TLSA 3 1 1 data of cert: the SHA-256 digest of its
// public key (SubjectPublicKeyInfo), in hex.
func spkiSHA256(t *testing.T, cert tls.Certificate) string {
	c, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(d[:])
}

// mxrouteEnv is the test settings that let mxroute fetch policies from the
// loopback server: its CA, its port, loopback allowed.
func (w *tlsWorld) mxrouteEnv() []string {
	return []string{
		"MXROUTE_MTA_STS_CA_FILE=" + w.caFile,
		"MXROUTE_MTA_STS_PORT=" + strconv.Itoa(w.policies.Port()),
		"MXROUTE_MTA_STS_ALLOW_LOOPBACK=true",
	}
}

func (w *tlsWorld) sinks() []*sink {
	return []*sink{w.good, w.excluded, w.badName, w.otherCA, w.daneGood, w.daneBad}
}

// arrived waits until every token arrived at s, then checks each arrived
// exactly once.
func arrived(t *testing.T, s *sink, tokens []string) {
	t.Helper()
	waitFor(t, 90*time.Second, fmt.Sprintf("%d messages at %s", len(tokens), s), func() bool {
		return !slices.ContainsFunc(tokens, func(tok string) bool { return s.count(tok) == 0 })
	})
	time.Sleep(500 * time.Millisecond)
	for _, tok := range tokens {
		if n := s.count(tok); n != 1 {
			t.Errorf("%s delivered %d times, want once", tok, n)
		}
	}
}

// checkEnforcePlan checks mxroute's plan for an enforce-mode domain: only
// the host the policy names, TLS required for its name, the excluded host
// skipped (by name: it is not even resolved).
func checkEnforcePlan(t *testing.T, p apigen.Plan, domain, addr string) {
	t.Helper()
	name := "mx." + domain
	if p.Tls.Policy != "mta-sts" || p.Tls.Mode != "enforce" {
		t.Fatalf("%s: plan's tls %+v, want mta-sts enforce (is the policy server reachable?)", domain, p.Tls)
	}
	if len(p.Attempts) != 1 || p.Attempts[0].Address != addr || !p.Attempts[0].TlsRequired ||
		p.Attempts[0].TlsNames == nil || !slices.Equal(*p.Attempts[0].TlsNames, []string{name}) {
		t.Fatalf("%s: attempts %+v, want only %s, TLS required for %s", domain, p.Attempts, addr, name)
	}
	if len(p.Skipped) != 1 || p.Skipped[0].Host != "other."+domain || p.Skipped[0].Reason != "mta_sts_mismatch" {
		t.Fatalf("%s: skipped %+v, want other.%s for mta_sts_mismatch", domain, p.Skipped, domain)
	}
}

// (h) MTA-STS enforce: the policy names mx.sts.test (127.0.0.4) and
// excludes the preferred MX (127.0.0.5). Every message reaches 127.0.0.4
// over TLS with a certificate Postfix verified against the test CA for
// that name; 127.0.0.5 never sees a connection; the policy was fetched
// once for both instances.
func (f *fixture) mtaSTSEnforce(t *testing.T) {
	f.reset(t)
	w := f.tls
	checkEnforcePlan(t, f.mx.route("sts.test"), "sts.test", "127.0.0.4")
	tokens := f.sendBoth(t, "h", 5, "sts.test")
	arrived(t, w.good, tokens)
	for _, n := range f.nodes {
		if got := socketmapAsk(t, n.agentPort, "mxroute-tls", fmt.Sprintf("[127.0.0.4]:%d", sinkPort)); got != "OK secure match=mx.sts.test" {
			t.Errorf("%s agent: TLS policy of [127.0.0.4]:%d is %q, want OK secure match=mx.sts.test", n.name, sinkPort, got)
		}
	}
	conns, _ := w.good.connections()
	hs, broken, clear, overTLS := w.good.tlsTotals()
	verified := countLines(f.nodes, "/smtp[", "Verified TLS connection established to ", fmt.Sprintf("[127.0.0.4]:%d", sinkPort))
	t.Logf("127.0.0.4: %d connections, %d STARTTLS handshakes (%d broken off), %d deliveries over TLS, %d MAIL FROM in clear; %d 'Verified TLS' log lines",
		conns, hs, broken, overTLS, clear, verified)
	if overTLS != len(tokens) || clear != 0 {
		t.Errorf("127.0.0.4: %d of %d messages over TLS, %d MAIL FROM in clear", overTLS, len(tokens), clear)
	}
	if verified == 0 || verified != hs {
		t.Errorf("%d 'Verified TLS connection established' lines for %d handshakes at 127.0.0.4", verified, hs)
	}
	if c, _ := w.excluded.connections(); c != 0 {
		t.Errorf("the excluded MX 127.0.0.5 got %d connections", c)
	}
	if n := w.policies.Requests("mta-sts.sts.test"); n != 1 {
		t.Errorf("the policy was fetched %d times, want once for the fleet", n)
	}
	waitFor(t, 15*time.Second, "success reports", func() bool { return f.mx.host("127.0.0.4").RecentSuccesses >= len(tokens) })
	time.Sleep(time.Second)
	if s := f.mx.host("127.0.0.4").RecentSuccesses; s != len(tokens) {
		t.Errorf("mxroute counts %d successes at 127.0.0.4, the sink got %d", s, len(tokens))
	}
}

// (i) MTA-STS enforce with a host whose certificate Postfix cannot verify:
// one from the test CA for another name (127.0.0.6), one for its name from
// an untrusted CA (127.0.0.7). Postfix defers: nothing is sent in clear,
// nothing goes to the excluded MX, and mxroute gets the failure at stage
// tls.
func (f *fixture) mtaSTSBadCertificate(t *testing.T) {
	w := f.tls
	for _, tc := range []struct {
		domain, addr string
		s            *sink
	}{
		{"badname.test", "127.0.0.6", w.badName},
		{"otherca.test", "127.0.0.7", w.otherCA},
	} {
		f.reset(t)
		checkEnforcePlan(t, f.mx.route(tc.domain), tc.domain, tc.addr)
		tokens := f.sendBoth(t, "i-"+tc.domain, 2, tc.domain)
		waitFor(t, 30*time.Second, "every message deferred", func() bool {
			d, _ := tc.s.totals()
			return d > 0 || countLines(f.nodes, "@"+tc.domain+">", "status=deferred") >= len(tokens)
		})
		if d, _ := tc.s.totals(); d == 0 {
			waitFor(t, 15*time.Second, tc.addr+" failure at stage tls", func() bool {
				lf := f.mx.host(tc.addr).LastFailure
				return lf != nil && lf.Stage == "tls"
			})
		}
		notVerified := countLines(f.nodes, "/smtp[", fmt.Sprintf("[%s]:%d", tc.addr, sinkPort), "Server certificate not verified")
		conns, _ := tc.s.connections()
		hs, broken, clear, _ := tc.s.tlsTotals()
		d, _ := tc.s.totals()
		deferred := countLines(f.nodes, "@"+tc.domain+">", "status=deferred")
		if d == 0 {
			waitFor(t, 15*time.Second, "one report per 'not verified' line", func() bool { return f.mx.host(tc.addr).RecentFailures >= notVerified })
		}
		h := f.mx.host(tc.addr)
		t.Logf("%s (%s): %d connections, %d STARTTLS handshakes (%d broken off), %d MAIL FROM in clear, %d deliveries; %d deferral lines, %d 'Server certificate not verified'; mxroute: %d failures",
			tc.addr, tc.domain, conns, hs, broken, clear, d, deferred, notVerified, h.RecentFailures)
		if d != 0 || clear != 0 {
			t.Errorf("%s: %d delivered, %d MAIL FROM in clear, with a certificate Postfix cannot verify", tc.addr, d, clear)
		}
		if conns == 0 || notVerified == 0 {
			t.Errorf("%s: %d connections, %d 'Server certificate not verified' lines: Postfix did not try the host", tc.addr, conns, notVerified)
		}
		if c, _ := w.excluded.connections(); c != 0 {
			t.Errorf("the excluded MX 127.0.0.5 got %d connections", c)
		}
		if n := countLines(f.nodes, "@"+tc.domain+">", "status=sent"); n != 0 {
			t.Errorf("%d messages to %s sent", n, tc.domain)
		}
		for _, n := range f.nodes {
			if out, err := n.command("postsuper", "-d", "ALL"); err != nil {
				t.Fatalf("postsuper: %v %s", err, out)
			}
		}
	}
}

// daneZone is signed at test time and served by a real unbound behind a
// validating unbound (internal/dnssectest), so the AD bit mxroute sees is
// unbound's verdict. good.dane.test's MX pins 127.0.0.8's key;
// bad.dane.test's MX pins a key 127.0.0.9 does not have.
const daneZone = `
dane.test.               300 IN SOA  ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 60
dane.test.               300 IN NS   ns.dane.test.
ns.dane.test.            300 IN A    127.0.0.1
good.dane.test.          300 IN MX   10 mx1.dane.test.
bad.dane.test.           300 IN MX   10 mx2.dane.test.
mx1.dane.test.           300 IN A    127.0.0.8
mx2.dane.test.           300 IN A    127.0.0.9
_25._tcp.mx1.dane.test.  300 IN TLSA 3 1 1 %s
_25._tcp.mx2.dane.test.  300 IN TLSA 3 1 1 %s
`

// colonHex is a hex digest as Postfix writes fingerprints: AB:CD:...
func colonHex(h string) string {
	var parts []string
	for i := 0; i+1 < len(h); i += 2 {
		parts = append(parts, strings.ToUpper(h[i:i+2]))
	}
	return strings.Join(parts, ":")
}

// (j) DANE: mxroute resolves through a validating unbound
// (MXROUTE_DNSSEC_VALIDATING) in front of a signed zone; the agent pins
// the validated DANE-EE records (fingerprint match=...). The pinned key
// is delivered to over TLS although no trusted CA signed its certificate
// and it names another host; a host presenting a certificate the test CA
// issued for its very name, with a key the TLSA record does not pin, gets
// nothing: Postfix defers.
func (f *fixture) dane(t *testing.T) {
	w := f.tls
	r := dnssectest.Start(t, dnssectest.Zone{Text: fmt.Sprintf(daneZone, w.goodPin, w.otherPin)})
	plain := f.mx.env
	f.mx.env = append(slices.Clone(plain), "MXROUTE_DNS_SERVERS="+r.Addr, "MXROUTE_DNSSEC_VALIDATING=true")
	defer func() { f.mx.env = plain; f.mx.reset() }()
	f.reset(t)
	cases := []struct{ domain, addr, pin string }{
		{"good.dane.test", "127.0.0.8", w.goodPin},
		{"bad.dane.test", "127.0.0.9", w.otherPin},
	}
	for _, c := range cases {
		p := f.mx.route(c.domain)
		if p.Tls.Policy != "dane" || len(p.Attempts) != 1 || p.Attempts[0].Address != c.addr || p.Attempts[0].Dane == nil || !*p.Attempts[0].Dane ||
			p.Attempts[0].Tlsa == nil || len(*p.Attempts[0].Tlsa) != 1 || (*p.Attempts[0].Tlsa)[0].Data != c.pin {
			t.Fatalf("%s: plan tls %+v attempts %+v, want DANE for %s pinning %s", c.domain, p.Tls, p.Attempts, c.addr, c.pin)
		}
	}

	good := f.sendBoth(t, "j-good", 3, "good.dane.test")
	bad := f.sendBoth(t, "j-bad", 2, "bad.dane.test")
	arrived(t, w.daneGood, good)
	waitFor(t, 30*time.Second, "bad.dane.test deferred", func() bool {
		d, _ := w.daneBad.totals()
		return d > 0 || countLines(f.nodes, "@bad.dane.test>", "status=deferred") >= len(bad)
	})
	// The agents answer the TLS table from the plans they routed by.
	for _, c := range cases {
		want := "OK fingerprint match=" + colonHex(c.pin)
		for _, n := range f.nodes {
			if got := socketmapAsk(t, n.agentPort, "mxroute-tls", fmt.Sprintf("[%s]:%d", c.addr, sinkPort)); got != want {
				t.Errorf("%s agent: TLS policy of [%s]:%d is %q, want %q", n.name, c.addr, sinkPort, got, want)
			}
		}
	}
	gConns, _ := w.daneGood.connections()
	gHS, _, gClear, gTLS := w.daneGood.tlsTotals()
	verified := countLines(f.nodes, "/smtp[", "Verified TLS connection established to ", fmt.Sprintf("[127.0.0.8]:%d", sinkPort))
	bConns, _ := w.daneBad.connections()
	bHS, _, bClear, _ := w.daneBad.tlsTotals()
	bD, _ := w.daneBad.totals()
	notVerified := countLines(f.nodes, "/smtp[", fmt.Sprintf("[127.0.0.9]:%d", sinkPort), "Server certificate not verified")
	deferred := countLines(f.nodes, "@bad.dane.test>", "status=deferred")
	t.Logf("127.0.0.8 (pinned key): %d connections, %d handshakes, %d of %d messages over TLS, %d MAIL FROM in clear, %d 'Verified' lines",
		gConns, gHS, gTLS, len(good), gClear, verified)
	t.Logf("127.0.0.9 (unpinned key): %d connections, %d handshakes, %d MAIL FROM in clear, %d deliveries; %d deferral lines, %d 'Server certificate not verified'",
		bConns, bHS, bClear, bD, deferred, notVerified)
	if gTLS != len(good) || gClear != 0 || verified == 0 || verified != gHS {
		t.Errorf("127.0.0.8: %d of %d over TLS, %d in clear, %d 'Verified' lines for %d handshakes", gTLS, len(good), gClear, verified, gHS)
	}
	if bD != 0 || bClear != 0 || bConns == 0 || notVerified == 0 {
		t.Errorf("127.0.0.9: %d delivered, %d MAIL FROM in clear, %d connections, %d 'Server certificate not verified' lines; want tried and deferred",
			bD, bClear, bConns, notVerified)
	}
	if bD == 0 {
		waitFor(t, 15*time.Second, "127.0.0.9 failure at stage tls", func() bool {
			lf := f.mx.host("127.0.0.9").LastFailure
			return lf != nil && lf.Stage == "tls"
		})
	}
	for _, n := range f.nodes {
		if out, err := n.command("postsuper", "-d", "ALL"); err != nil {
			t.Fatalf("postsuper: %v %s", err, out)
		}
	}
}
