package check

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// seedLayouts are the four layouts of /work/shared/seed, TTL 3600 here so
// that only the layout speaks; the end-to-end tests use the seed's 1200.
func seedLayouts() map[string]Data {
	const d = "example.com"
	return map[string]Data{
		"seed1 two names own addresses": layout(d,
			[]MXRecord{mx("mail1.example.com", 10), mx("mail2.example.com", 10)},
			host("mail1.example.com", "172.16.10.1"), host("mail2.example.com", "172.16.10.2")),
		"seed2 one name two addresses": layout(d,
			[]MXRecord{mx("mail.example.com", 10)},
			host("mail.example.com", "172.16.10.1", "172.16.10.2")),
		"seed3 two names both addresses": layout(d,
			[]MXRecord{mx("mail1.example.com", 10), mx("mail2.example.com", 10)},
			host("mail1.example.com", "172.16.10.1", "172.16.10.2"), host("mail2.example.com", "172.16.10.1", "172.16.10.2")),
		"seed4 10/10/20/30": layout(d,
			[]MXRecord{mx("mail1.example.com", 10), mx("mail2.example.com", 10), mx("mail3.example.com", 20), mx("mail4.example.com", 30)},
			host("mail1.example.com", "172.16.10.1"), host("mail2.example.com", "172.16.10.2"),
			host("mail3.example.com", "172.16.10.1"), host("mail4.example.com", "172.16.10.2")),
	}
}

type gradeCase struct {
	name      string
	data      Data
	status    Status
	grade     Letter
	balancing Balancing
	failover  FailoverClass
	prefixes  int
	// codes is the exact list of findings, CODE/level, in report order.
	codes []string
	// recommend must appear in the recommendation.
	recommend string
}

func TestGradeSeedLayouts(t *testing.T) {
	seeds := seedLayouts()
	private := CodePrivateAddress + "/notice"
	same := CodeSamePrefix + "/notice"
	dup := CodeDuplicateAddress + "/notice"
	cases := []gradeCase{
		{name: "seed1 two names own addresses", status: StatusPass, grade: GradeB, balancing: BalancingStrong, failover: FailoverLocal, prefixes: 1,
			codes: []string{same, private}, recommend: "another network"},
		{name: "seed2 one name two addresses", status: StatusPass, grade: GradeB, balancing: BalancingWeak, failover: FailoverLocal, prefixes: 1,
			codes: []string{same, private}, recommend: "example.com. 3600 IN MX 10 mail1.example.com.\n  example.com. 3600 IN MX 10 mail2.example.com.\n  mail1.example.com. 3600 IN A 172.16.10.1\n  mail2.example.com. 3600 IN A 172.16.10.2"},
		{name: "seed3 two names both addresses", status: StatusPass, grade: GradeB, balancing: BalancingWeak, failover: FailoverLocal, prefixes: 1,
			codes: []string{dup, same, private}, recommend: "one MX name per server, so senders spread the load as RFC 5321 requires instead of relying on address order:\n  example.com. 3600 IN MX 10 mail1.example.com.\n  example.com. 3600 IN MX 10 mail2.example.com.\n  mail1.example.com. 3600 IN A 172.16.10.1\n  mail2.example.com. 3600 IN A 172.16.10.2"},
		{name: "seed4 10/10/20/30", status: StatusPass, grade: GradeB, balancing: BalancingStrong, failover: FailoverLocal, prefixes: 1,
			codes: []string{dup, same, private}, recommend: "mail3.example.com (20), mail4.example.com (30) only repeat addresses tried before, so a retry reaches the same server: give the backup preferences servers of their own, or delete them:\n  example.com. 3600 IN MX 20 mail3.example.com.\n  mail3.example.com. 3600 IN A <own address, ideally in another network>\n  example.com. 3600 IN MX 30 mail4.example.com."},
	}
	for _, c := range cases {
		c.data = seeds[c.name]
		runGradeCase(t, c)
	}
}

func runGradeCase(t *testing.T, c gradeCase) {
	t.Helper()
	t.Run(c.name, func(t *testing.T) {
		r := Grade(c.data)
		checkInvariants(t, r)
		if r.Status != c.status || r.Grade != c.grade {
			t.Errorf("status %s grade %s, want %s %s", r.Status, r.Grade, c.status, c.grade)
		}
		if c.balancing != "" && r.LoadBalancing != c.balancing {
			t.Errorf("load_balancing %s, want %s", r.LoadBalancing, c.balancing)
		}
		if c.failover != "" && r.Failover.Class != c.failover {
			t.Errorf("failover %s, want %s", r.Failover.Class, c.failover)
		}
		if c.prefixes != 0 && r.Failover.UniquePrefixes != c.prefixes {
			t.Errorf("unique_prefixes %d, want %d", r.Failover.UniquePrefixes, c.prefixes)
		}
		if got := findingCodes(r); !slices.Equal(got, c.codes) {
			t.Errorf("findings %v, want %v", got, c.codes)
		}
		if !strings.Contains(r.Recommendation, c.recommend) {
			t.Errorf("recommendation %q, want it to contain %q", r.Recommendation, c.recommend)
		}
		if t.Failed() {
			for _, f := range r.Findings {
				t.Logf("%s %s: %s", f.Level, f.Code, f.Message)
			}
		}
	})
}

// TestGradeFindings covers every finding code at least once.
func TestGradeFindings(t *testing.T) {
	const dom = "example.com"
	twoDiverse := []MXRecord{mx("a.example.com", 10), mx("b.example.com", 10)}
	// clean builds fresh data each time: the cases modify it in place.
	clean := func() Data {
		return layout(dom, []MXRecord{mx("a.example.com", 10), mx("b.example.com", 10)},
			host("a.example.com", "192.0.2.1"), host("b.example.com", "198.51.100.1"))
	}
	with := func(f func(*Data)) Data { d := clean(); f(&d); return d }

	cases := []gradeCase{
		{name: "clean diverse strong", data: clean(), status: StatusPass, grade: GradeA, balancing: BalancingStrong, failover: FailoverDiverse, prefixes: 2,
			codes: []string{}, recommend: "No change needed"},
		{name: "MX NXDOMAIN", data: Data{Domain: dom, MX: MXData{Lookup: Lookup{Outcome: OutcomeNXDomain}}, Consistency: consistent(dom)},
			status: StatusFail, grade: GradeF, balancing: BalancingNone, failover: FailoverNone,
			codes: []string{"MX_LOOKUP_FAILED/error"}, recommend: "does not exist"},
		{name: "MX SERVFAIL", data: Data{Domain: dom, MX: MXData{Lookup: Lookup{Outcome: OutcomeServFail, Detail: "boom"}}, Consistency: consistent(dom)},
			status: StatusFail, grade: GradeF, codes: []string{"MX_LOOKUP_FAILED/error"}, recommend: "answer MX queries"},
		{name: "MX timeout", data: Data{Domain: dom, MX: MXData{Lookup: Lookup{Outcome: OutcomeTimeout}}, Consistency: consistent(dom)},
			status: StatusFail, grade: GradeF, codes: []string{"MX_LOOKUP_FAILED/error"}},
		{name: "null MX", data: Data{Domain: dom, MX: MXData{Lookup: okLookup, Records: []MXRecord{mx(".", 0)}}, Consistency: consistent(dom, mx(".", 0))},
			status: StatusPass, grade: GradeB, balancing: BalancingNone, failover: FailoverNone,
			codes: []string{"NULL_MX/info"}, recommend: "accepts no mail"},
		{name: "null MX nonzero preference", data: Data{Domain: dom, MX: MXData{Lookup: okLookup, Records: []MXRecord{mx("", 10)}}, Consistency: consistent(dom)},
			status: StatusPass, grade: GradeB, codes: []string{"NULL_MX_NONZERO_PREF/notice", "NULL_MX/info"}, recommend: "IN MX 0 ."},
		{name: "null MX with others", data: with(func(d *Data) { d.MX.Records = append(d.MX.Records, mx(".", 0)) }),
			status: StatusFail, grade: GradeF, balancing: BalancingStrong, failover: FailoverDiverse,
			codes: []string{"NULL_MX_WITH_OTHERS/error"}, recommend: "not both"},
		{name: "implicit MX", data: Data{Domain: dom, MX: MXData{Lookup: okLookup}, Hosts: []HostData{host(dom, "192.0.2.1", "2001:db8::1")},
			Reverse: []ReverseData{confirmed("192.0.2.1", dom), confirmed("2001:db8::1", dom)}, Consistency: consistent(dom)},
			status: StatusPass, grade: GradeB, balancing: BalancingWeak, failover: FailoverDiverse,
			codes: []string{"NO_MX_IMPLICIT/notice"}, recommend: "Publish MX records with one name per server"},
		{name: "implicit MX without addresses", data: Data{Domain: dom, MX: MXData{Lookup: okLookup},
			Hosts: []HostData{{Host: dom, A: okLookup, AAAA: okLookup}}, Consistency: consistent(dom)},
			status: StatusFail, grade: GradeF, codes: []string{"NO_USABLE_MX/error"}, recommend: "null MX"},
		{name: "no target resolves", data: with(func(d *Data) {
			d.Hosts = []HostData{{Host: "a.example.com", A: Lookup{Outcome: OutcomeNXDomain}, AAAA: Lookup{Outcome: OutcomeNXDomain}},
				{Host: "b.example.com", A: Lookup{Outcome: OutcomeServFail}, AAAA: okLookup}}
			d.Reverse = nil
		}), status: StatusFail, grade: GradeF, balancing: BalancingNone, failover: FailoverNone,
			codes: []string{"NO_USABLE_MX/error"}, recommend: "A or AAAA record"},
		{name: "target is an IP", data: with(func(d *Data) {
			d.MX.Records = append(d.MX.Records, mx("203.0.113.9", 20))
		}), status: StatusFail, grade: GradeF, codes: []string{"MX_TARGET_IS_IP/error"}, recommend: "mail1.example.com. 3600 IN A 203.0.113.9"},
		{name: "every target is an IP", data: layout(dom, []MXRecord{mx("192.0.2.7", 10), mx("[2001:db8::7]", 20)}),
			status: StatusFail, grade: GradeF, balancing: BalancingNone, failover: FailoverNone,
			codes:     []string{"MX_TARGET_IS_IP/error", "NO_USABLE_MX/error"},
			recommend: "example.com. 3600 IN MX 10 mail1.example.com.\n  mail1.example.com. 3600 IN A 192.0.2.7\n  example.com. 3600 IN MX 20 mail2.example.com.\n  mail2.example.com. 3600 IN AAAA 2001:db8::7"},
		{name: "some targets unresolvable", data: with(func(d *Data) {
			d.MX.Records = append(d.MX.Records, mx("c.example.com", 20))
			d.Hosts = append(d.Hosts, HostData{Host: "c.example.com", A: Lookup{Outcome: OutcomeNXDomain}, AAAA: Lookup{Outcome: OutcomeNXDomain}})
		}), status: StatusWarn, grade: GradeC, balancing: BalancingStrong, failover: FailoverDiverse,
			codes: []string{"MX_TARGET_UNRESOLVABLE/warning"}, recommend: "c.example.com"},
		{name: "target is a CNAME", data: with(func(d *Data) {
			d.Hosts[0].CNAMEs = []string{"real.example.net"}
		}), status: StatusWarn, grade: GradeC, codes: []string{"MX_TARGET_CNAME/warning"}, recommend: "example.com. 3600 IN MX 10 real.example.net."},
		{name: "every address unroutable", data: layout(dom, twoDiverse, host("a.example.com", "127.0.0.1"), host("b.example.com", "::ffff:169.254.1.1", "ff02::1")),
			status: StatusFail, grade: GradeF, balancing: BalancingNone, failover: FailoverNone,
			codes: []string{"MX_UNROUTABLE_ADDRESS/error"}, recommend: "public addresses"},
		{name: "some addresses unroutable", data: layout(dom, twoDiverse, host("a.example.com", "192.0.2.1", "0.1.2.3"), host("b.example.com", "198.51.100.1", "::1")),
			status: StatusWarn, grade: GradeC, balancing: BalancingStrong, failover: FailoverDiverse,
			codes: []string{"MX_UNROUTABLE_ADDRESS/warning"}},
		{name: "single address", data: layout(dom, []MXRecord{mx("a.example.com", 10)}, host("a.example.com", "192.0.2.1")),
			status: StatusWarn, grade: GradeC, balancing: BalancingNone, failover: FailoverNone,
			codes: []string{"SINGLE_ADDRESS/warning"}, recommend: "example.com. 3600 IN MX 10 mail1.example.com."},
		{name: "inconsistent servers", data: with(func(d *Data) {
			d.Consistency.Servers = append(d.Consistency.Servers, ServerData{Host: "ns2.example.com", Address: netip.MustParseAddr("192.0.2.54"),
				Lookup: okLookup, Records: []MXRecord{mx("a.example.com", 10)}})
		}), status: StatusWarn, grade: GradeC, codes: []string{"MX_INCONSISTENT/warning"}, recommend: "SOA serials"},
		{name: "server NXDOMAIN disagrees", data: with(func(d *Data) {
			d.Consistency.Servers = append(d.Consistency.Servers, ServerData{Host: "ns2.example.com", Address: netip.MustParseAddr("192.0.2.54"),
				Lookup: Lookup{Outcome: OutcomeNXDomain}})
		}), status: StatusWarn, grade: GradeC, codes: []string{"MX_INCONSISTENT/warning"}},
		{name: "private addresses", data: layout(dom, twoDiverse, host("a.example.com", "100.64.0.1"), host("b.example.com", "fd00::1")),
			status: StatusPass, grade: GradeA, codes: []string{"MX_PRIVATE_ADDRESS/notice"}, recommend: "internal DNS views"},
		{name: "same /48", data: layout(dom, twoDiverse, host("a.example.com", "2001:db8:1::1"), host("b.example.com", "2001:db8:1:ff::1")),
			status: StatusPass, grade: GradeB, failover: FailoverLocal, prefixes: 1, codes: []string{"SAME_PREFIX/notice"}, recommend: "outside the current /48"},
		{name: "PTR missing", data: with(func(d *Data) {
			d.Reverse[1] = ReverseData{Address: d.Reverse[1].Address, PTR: Lookup{Outcome: OutcomeNXDomain}}
		}), status: StatusPass, grade: GradeA, codes: []string{"PTR_MISSING/notice"}, recommend: "1.100.51.198.in-addr.arpa. 3600 IN PTR b.example.com."},
		{name: "FCrDNS fails", data: with(func(d *Data) {
			d.Reverse[0].Forward[0].Addresses = addrs("192.0.2.99")
		}), status: StatusPass, grade: GradeA, codes: []string{"FCRDNS_FAIL/notice"}, recommend: "resolve back"},
		{name: "PTR timeout", data: with(func(d *Data) {
			d.Reverse[0] = ReverseData{Address: d.Reverse[0].Address, PTR: Lookup{Outcome: OutcomeTimeout, Detail: "slow"}}
		}), status: StatusPass, grade: GradeA, codes: []string{"PTR_UNCHECKED/info"}, recommend: "No change needed"},
		{name: "PTR not looked up", data: with(func(d *Data) { d.Reverse = d.Reverse[:1] }),
			status: StatusPass, grade: GradeA, codes: []string{"PTR_UNCHECKED/info"}},
		{name: "forward confirmation timed out", data: with(func(d *Data) {
			d.Reverse[0].Forward[0] = ForwardData{Name: d.Reverse[0].Names[0], Lookup: Lookup{Outcome: OutcomeTimeout}}
		}), status: StatusPass, grade: GradeA, codes: []string{"PTR_UNCHECKED/info"}},
		{name: "TTL low", data: with(func(d *Data) {
			d.MX.Records[0].TTL, d.MX.Records[1].TTL = 300, 300
		}), status: StatusPass, grade: GradeA, codes: []string{"MX_TTL_LOW/notice"}, recommend: "at least 3600"},
		{name: "TTL low but from a cache", data: with(func(d *Data) {
			d.MX.Authoritative = false
			d.MX.Records[0].TTL = 300
		}), status: StatusPass, grade: GradeA, codes: []string{}},
		{name: "TTL low from an authoritative server", data: with(func(d *Data) {
			d.MX.Authoritative = false
			d.Consistency.Servers[0].Records[0].TTL = 300
		}), status: StatusPass, grade: GradeA, codes: []string{"MX_TTL_LOW/notice"}},
		{name: "TTL high", data: with(func(d *Data) { d.MX.Records[1].TTL = 2000000 }),
			status: StatusPass, grade: GradeA, codes: []string{"MX_TTL_HIGH/notice"}, recommend: "86400"},
		{name: "zone not found", data: with(func(d *Data) {
			d.Consistency = ConsistencyData{Lookup: Lookup{Outcome: OutcomeServFail, Detail: "boom"}}
		}), status: StatusPass, grade: GradeA, codes: []string{"CONSISTENCY_UNCHECKED/info"}},
		{name: "one name server silent", data: with(func(d *Data) {
			d.Consistency.Servers = append(d.Consistency.Servers,
				ServerData{Host: "ns2.example.com", Address: netip.MustParseAddr("192.0.2.54"), Lookup: Lookup{Outcome: OutcomeTimeout}},
				ServerData{Host: "ns3.example.com", Lookup: Lookup{Outcome: OutcomeNXDomain}})
		}), status: StatusPass, grade: GradeA, codes: []string{"CONSISTENCY_UNCHECKED/info"}},
		{name: "name server silent on one address only", data: with(func(d *Data) {
			d.Consistency.Servers = append(d.Consistency.Servers,
				ServerData{Host: "ns1.example.com", Address: netip.MustParseAddr("2001:db8::53"), Lookup: Lookup{Outcome: OutcomeFailed}})
		}), status: StatusPass, grade: GradeA, codes: []string{}},
		{name: "name server timeout", data: with(func(d *Data) {
			d.Consistency.Servers[0].Lookup = Lookup{Outcome: OutcomeTimeout}
		}), status: StatusPass, grade: GradeA, codes: []string{"CONSISTENCY_UNCHECKED/info"}},
	}
	for _, c := range cases {
		runGradeCase(t, c)
	}
}

func TestGradeLayoutRules(t *testing.T) {
	const dom = "example.com"
	cases := []gradeCase{
		{name: "overlapping names are weak", data: layout(dom, []MXRecord{mx("a.example.com", 10), mx("b.example.com", 10)},
			host("a.example.com", "192.0.2.1"), host("b.example.com", "192.0.2.1", "198.51.100.1")),
			status: StatusPass, grade: GradeB, balancing: BalancingWeak, failover: FailoverDiverse, prefixes: 2,
			codes: []string{"DUPLICATE_ADDRESS/notice"}},
		{name: "lowest preference without address is passed over", data: func() Data {
			d := layout(dom, []MXRecord{mx("dead.example.com", 5), mx("a.example.com", 10), mx("b.example.com", 10)},
				host("a.example.com", "192.0.2.1"), host("b.example.com", "198.51.100.1"))
			d.Hosts = append(d.Hosts, HostData{Host: "dead.example.com", A: okLookup, AAAA: okLookup})
			return d
		}(), status: StatusWarn, grade: GradeC, balancing: BalancingStrong, failover: FailoverDiverse,
			codes: []string{"MX_TARGET_UNRESOLVABLE/warning"}},
		{name: "backup only: balancing none, failover diverse", data: layout(dom, []MXRecord{mx("a.example.com", 10), mx("b.example.com", 20)},
			host("a.example.com", "192.0.2.1"), host("b.example.com", "198.51.100.1")),
			status: StatusPass, grade: GradeB, balancing: BalancingNone, failover: FailoverDiverse, prefixes: 2,
			codes: []string{}, recommend: "example.com. 3600 IN MX 10 b.example.com."},
		{name: "case and trailing dots normalised", data: layout(dom, []MXRecord{mx("A.Example.COM.", 10), mx("b.example.com", 10)},
			host("a.example.com", "192.0.2.1"), host("B.EXAMPLE.COM.", "198.51.100.1")),
			status: StatusPass, grade: GradeA, balancing: BalancingStrong, failover: FailoverDiverse, codes: []string{}},
	}
	for _, c := range cases {
		runGradeCase(t, c)
	}
}

func TestGradeEffectiveDepth(t *testing.T) {
	var recs []MXRecord
	var hosts []HostData
	for i := range 7 {
		name := string(rune('a'+i)) + ".example.com"
		recs = append(recs, mx(name, uint16(10*(i+1))))
		hosts = append(hosts, host(name, netip.AddrFrom4([4]byte{192, 0, byte(i), 1}).String()))
	}
	r := Grade(layout("example.com", recs, hosts...))
	checkInvariants(t, r)
	if got := r.Failover; len(got.UniqueAddresses) != 7 || got.EffectiveDepth != 5 || got.UniquePrefixes != 7 {
		t.Errorf("failover %+v, want 7 addresses, depth 5, 7 prefixes", got)
	}
	if want := []string{"192.0.0.1", "192.0.1.1", "192.0.2.1"}; !slices.Equal(r.Failover.UniqueAddresses[:3], want) {
		t.Errorf("unique_addresses %v, want preference order starting %v", r.Failover.UniqueAddresses, want)
	}
}

func TestGradeFindingDetails(t *testing.T) {
	r := Grade(seedLayouts()["seed4 10/10/20/30"])
	f, ok := findingOf(r, CodeDuplicateAddress)
	if !ok {
		t.Fatalf("no DUPLICATE_ADDRESS in %v", findingCodes(r))
	}
	if want := []string{"172.16.10.1", "172.16.10.2"}; !slices.Equal(f.Addresses, want) {
		t.Errorf("addresses %v, want %v", f.Addresses, want)
	}
	if want := []string{"mail1.example.com", "mail3.example.com", "mail2.example.com", "mail4.example.com"}; !slices.Equal(f.Hosts, want) {
		t.Errorf("hosts %v, want %v", f.Hosts, want)
	}
	if want := []string{"172.16.10.1", "172.16.10.2"}; !slices.Equal(r.Failover.UniqueAddresses, want) {
		t.Errorf("unique_addresses %v, want %v", r.Failover.UniqueAddresses, want)
	}
	if r.Failover.EffectiveDepth != 2 {
		t.Errorf("effective_depth %d, want 2", r.Failover.EffectiveDepth)
	}
	for _, m := range r.MX {
		if len(m.PTR) != 1 || !m.PTR[0].ForwardConfirmed {
			t.Errorf("mx %s: ptr %+v, want one confirmed", m.Host, m.PTR)
		}
	}
}
