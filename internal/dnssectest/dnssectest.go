// Package dnssectest runs a real validating resolver for tests: zones
// signed at test time with github.com/miekg/dns, served by one unbound
// process as an authoritative server (auth-zone), behind a second unbound
// that validates with the signed zones' keys as trust anchors. The AD bit
// a client sees is therefore unbound's verdict, not a flag a test server
// sets.
//
// Both processes listen on free ports of 127.0.0.1 and ask nothing but
// each other: the resolver's only upstream is the authoritative one, for
// every name (a stub zone for the root), and that one refuses names
// outside its zones. Nothing is sent off the machine.
//
// unbound must be installed (Debian: apt-get install unbound; make deps
// does it). A test using this package fails, never skips, without it.
package dnssectest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Zone is one zone to serve.
type Zone struct {
	// Text is master-file text with absolute names and one SOA record,
	// at the apex.
	Text string
	// Unsigned serves the zone as it is: no trust anchor covers it, so
	// its answers are insecure (no AD).
	Unsigned bool
	// Bogus names RRsets ("_25._tcp.mx.example.test. TLSA") whose
	// signature is corrupted: the resolver answers them SERVFAIL, as it
	// does for any forged answer in a signed zone.
	Bogus []string
}

// Resolver is a running validating resolver.
type Resolver struct {
	// Addr is the validating resolver, "127.0.0.1:port" over UDP and TCP.
	Addr string
	// Auth is the authoritative server behind it.
	Auth string
	// Anchors are the signed zones' DNSKEY records the resolver trusts,
	// in presentation format, in the order of the zones.
	Anchors []string
}

// Start signs the zones that are not Unsigned, starts the authoritative
// server and the validating resolver, and stops both when the test ends.
// It fails the test when unbound is missing or does not start.
func Start(t testing.TB, zones ...Zone) *Resolver {
	t.Helper()
	bin := unboundPath(t)
	dir := t.TempDir()
	var served []servedZone
	r := &Resolver{}
	for _, z := range zones {
		apex, rrs, err := parse(z.Text)
		if err != nil {
			t.Fatalf("dnssectest: %v", err)
		}
		sz := servedZone{apex: apex, text: z.Text}
		if !z.Unsigned {
			s, err := sign(apex, rrs, z.Bogus)
			if err != nil {
				t.Fatalf("dnssectest: zone %s: %v", apex, err)
			}
			sz.text = s.text
			r.Anchors = append(r.Anchors, s.anchor)
		} else if len(z.Bogus) > 0 {
			t.Fatalf("dnssectest: zone %s: Bogus needs a signed zone", apex)
		}
		sz.file = filepath.Join(dir, strings.TrimSuffix(apex, ".")+".zone")
		if err := os.WriteFile(sz.file, []byte(sz.text), 0o600); err != nil {
			t.Fatalf("dnssectest: %v", err)
		}
		served = append(served, sz)
	}
	r.Auth = startUnbound(t, bin, dir, "auth", func(port int) string { return authConfig(dir, port, served) }, served[0].apex)
	r.Addr = startUnbound(t, bin, dir, "resolver", func(port int) string { return resolverConfig(dir, port, r.Auth, served, r.Anchors) }, served[0].apex)
	return r
}

// servedZone is a zone as the authoritative server loads it.
type servedZone struct {
	apex, text, file string
}
