package check

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/mxroute/mxroute/internal/resolver/guardtest"
)

// TestMain checks for leaked goroutines, and fails the run if any test
// sent DNS outside loopback.
func TestMain(m *testing.M) {
	os.Exit(guardtest.LoopbackOnly(m, func(m *testing.M) int {
		code := m.Run()
		if err := goleak.Find(); code == 0 && err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
		return code
	}))
}

var okLookup = Lookup{Outcome: OutcomeOK}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// host is a target that resolved to the given addresses.
func host(name string, as ...string) HostData {
	return HostData{Host: name, A: okLookup, AAAA: okLookup, Addresses: addrs(as...)}
}

// confirmed is reverse DNS of addr naming name, which resolves back.
func confirmed(addr, name string) ReverseData {
	a := netip.MustParseAddr(addr)
	return ReverseData{Address: a, PTR: okLookup, Names: []string{name},
		Forward: []ForwardData{{Name: name, Lookup: okLookup, Addresses: []netip.Addr{a}}}}
}

// consistent is a zone with one authoritative server that agrees.
func consistent(zone string, recs ...MXRecord) ConsistencyData {
	return ConsistencyData{Zone: zone, Lookup: okLookup, Servers: []ServerData{
		{Host: "ns1." + zone, Address: netip.MustParseAddr("192.0.2.53"), Lookup: okLookup, Records: recs},
	}}
}

// layout builds clean data for domain: the records, hosts resolving as
// given, every address with confirmed reverse DNS, one agreeing server.
func layout(domain string, recs []MXRecord, hosts ...HostData) Data {
	d := Data{
		Domain:      domain,
		MX:          MXData{Lookup: okLookup, Records: recs, Authoritative: true},
		Hosts:       hosts,
		Consistency: consistent(domain, slices.Clone(recs)...),
	}
	var seen []netip.Addr
	for _, h := range hosts {
		for _, a := range h.Addresses {
			if !slices.Contains(seen, a) {
				seen = append(seen, a)
				d.Reverse = append(d.Reverse, confirmed(a.String(), h.Host))
			}
		}
	}
	return d
}

func mx(host string, pref uint16) MXRecord { return MXRecord{Host: host, Preference: pref, TTL: 3600} }

// findingCodes lists a report's findings as CODE/level, in report order.
func findingCodes(r Report) []string {
	out := make([]string, len(r.Findings))
	for i, f := range r.Findings {
		out[i] = f.Code + "/" + string(f.Level)
	}
	return out
}

func findingOf(r Report, code string) (Finding, bool) {
	for _, f := range r.Findings {
		if f.Code == code {
			return f, true
		}
	}
	return Finding{}, false
}

// checkInvariants verifies what must hold for any report, whatever the
// data: the fuzzer's oracle and a check on every table case.
func checkInvariants(t *testing.T, r Report) {
	t.Helper()
	worst := LevelInfo
	for i, f := range r.Findings {
		if _, known := codeOrder[f.Code]; !known {
			t.Errorf("finding %d: unknown code %q", i, f.Code)
		}
		if f.Message == "" {
			t.Errorf("finding %s: empty message", f.Code)
		}
		if f.Level.rank() < worst.rank() {
			worst = f.Level
		}
		if i > 0 && f.Level.rank() < r.Findings[i-1].Level.rank() {
			t.Errorf("findings not sorted by level: %s after %s", f.Code, r.Findings[i-1].Code)
		}
		switch f.Level {
		case LevelError, LevelWarning, LevelNotice, LevelInfo:
		default:
			t.Errorf("finding %s: level %q", f.Code, f.Level)
		}
	}
	wantStatus, wantGrades := StatusPass, []Letter{GradeA, GradeB}
	switch worst {
	case LevelError:
		wantStatus, wantGrades = StatusFail, []Letter{GradeF}
	case LevelWarning:
		wantStatus, wantGrades = StatusWarn, []Letter{GradeC}
	}
	if r.Status != wantStatus || !slices.Contains(wantGrades, r.Grade) {
		t.Errorf("status %s grade %s with worst finding level %s; want %s and one of %v", r.Status, r.Grade, worst, wantStatus, wantGrades)
	}
	if wantStatus == StatusPass {
		a := r.LoadBalancing == BalancingStrong && r.Failover.Class == FailoverDiverse
		if (r.Grade == GradeA) != a {
			t.Errorf("grade %s with balancing %s and failover %s", r.Grade, r.LoadBalancing, r.Failover.Class)
		}
	}
	switch r.LoadBalancing {
	case BalancingNone, BalancingWeak, BalancingStrong:
	default:
		t.Errorf("load_balancing %q", r.LoadBalancing)
	}

	f := r.Failover
	n := len(f.UniqueAddresses)
	if f.EffectiveDepth != min(n, MaxSenderAddresses) {
		t.Errorf("effective_depth %d with %d unique addresses", f.EffectiveDepth, n)
	}
	if f.UniquePrefixes > n || (n > 0 && f.UniquePrefixes < 1) {
		t.Errorf("unique_prefixes %d with %d unique addresses", f.UniquePrefixes, n)
	}
	wantClass := FailoverDiverse
	switch {
	case n < 2:
		wantClass = FailoverNone
	case f.UniquePrefixes == 1:
		wantClass = FailoverLocal
	}
	if f.Class != wantClass {
		t.Errorf("failover class %s with %d addresses in %d prefixes; want %s", f.Class, n, f.UniquePrefixes, wantClass)
	}
	var seen []string
	for _, a := range f.UniqueAddresses {
		if slices.Contains(seen, a) {
			t.Errorf("unique_addresses repeats %s", a)
		}
		seen = append(seen, a)
	}
	if r.LoadBalancing != BalancingNone && n < 2 {
		t.Errorf("load_balancing %s with %d unique addresses", r.LoadBalancing, n)
	}

	if r.MX == nil || r.Findings == nil || f.UniqueAddresses == nil {
		t.Errorf("nil slice in report: mx %v findings %v unique %v", r.MX == nil, r.Findings == nil, f.UniqueAddresses == nil)
	}
	for _, m := range r.MX {
		if m.Addresses == nil || m.PTR == nil {
			t.Errorf("mx %s: nil addresses or ptr", m.Host)
		}
		for _, p := range m.PTR {
			if p.Names == nil {
				t.Errorf("mx %s ptr %s: nil names", m.Host, p.Address)
			}
		}
	}
	if r.Recommendation == "" {
		t.Error("empty recommendation")
	}
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("json: %v", err)
	}
	if err := r.WriteText(io.Discard); err != nil {
		t.Errorf("WriteText: %v", err)
	}
}
