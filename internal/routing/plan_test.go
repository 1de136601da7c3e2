package routing

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

type planCase struct {
	name   string
	in     Input
	opts   func(*Options)
	health map[string]State
	// want: the disposition triple, the attempts in order, and the skipped
	// entries and warnings as sets (see attemptsOf, skippedOf, warningsOf).
	disp     Disposition
	reason   Reason
	status   string
	implicit bool
	attempts []string
	skipped  []string
	warnings []string
}

func dom(mx MXAnswer, hosts map[string]HostAnswers) Input {
	return Input{Domain: "example.com", MX: mx, Hosts: hosts}
}

func runPlanCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := seeded(1)
			if tc.opts != nil {
				tc.opts(&opts)
			}
			var health Health
			if tc.health != nil {
				health = func(a netip.Addr) State {
					if s, ok := tc.health[a.String()]; ok {
						return s
					}
					return StateHealthy
				}
			}
			p := Build(tc.in, health, opts)
			if p.Disposition != tc.disp || p.Reason != tc.reason || p.EnhancedStatus != tc.status {
				t.Errorf("disposition = %s/%s/%q, want %s/%s/%q", p.Disposition, p.Reason, p.EnhancedStatus, tc.disp, tc.reason, tc.status)
			}
			if p.ImplicitMX != tc.implicit {
				t.Errorf("ImplicitMX = %v, want %v", p.ImplicitMX, tc.implicit)
			}
			if got, want := attemptsOf(p), tc.attempts; !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("attempts\n got %s\nwant %s", join(got), join(want))
			}
			if got, want := skippedOf(p), sorted(tc.skipped); !slices.Equal(got, want) {
				t.Errorf("skipped\n got %s\nwant %s", join(got), join(want))
			}
			if got, want := warningsOf(p), sorted(tc.warnings); !slices.Equal(got, want) {
				t.Errorf("warnings\n got %s\nwant %s", join(got), join(want))
			}
			if p.Domain != tc.in.Domain {
				t.Errorf("Domain = %q, want %q", p.Domain, tc.in.Domain)
			}
			if p.Attempts == nil || p.Skipped == nil || p.Warnings == nil {
				t.Errorf("nil slice in plan (JSON would say null): %+v", p)
			}
		})
	}
}

// Rule 1, the deterministic part: ascending preference whatever the order DNS
// presented the records in. The random part is in shuffle_test.go.
func TestBuildOrdersByPreference(t *testing.T) {
	runPlanCases(t, []planCase{{
		name: "presented in reverse",
		in: dom(mxOK(MX{30, "c.example.com"}, MX{10, "a.example.com"}, MX{20, "b.example.com"}, MX{0, "z.example.com"}), map[string]HostAnswers{
			"a.example.com": only4("192.0.2.1"),
			"b.example.com": only4("192.0.2.2"),
			"c.example.com": only4("192.0.2.3"),
			"z.example.com": only4("192.0.2.4"),
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"z.example.com/0/192.0.2.4", "a.example.com/10/192.0.2.1", "b.example.com/20/192.0.2.2", "c.example.com/30/192.0.2.3"},
	}, {
		name: "preference 65535 sorts last, not wrapped",
		in: dom(mxOK(MX{65535, "c.example.com"}, MX{1, "a.example.com"}), map[string]HostAnswers{
			"a.example.com": only4("192.0.2.1"),
			"c.example.com": only4("192.0.2.3"),
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/1/192.0.2.1", "c.example.com/65535/192.0.2.3"},
	}})
}

// Rule 2: each host's addresses in the order presented, IPv4 lookup first.
func TestBuildKeepsPresentedAddressOrder(t *testing.T) {
	runPlanCases(t, []planCase{{
		name: "A order then AAAA order",
		in: dom(mxOK(MX{10, "mx.example.com"}), map[string]HostAnswers{
			"mx.example.com": both([]string{"192.0.2.3", "192.0.2.1", "192.0.2.2"}, []string{"2001:db8::2", "2001:db8::1"}),
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{
			"mx.example.com/10/192.0.2.3", "mx.example.com/10/192.0.2.1", "mx.example.com/10/192.0.2.2",
			"mx.example.com/10/2001:db8::2", "mx.example.com/10/2001:db8::1",
		},
	}, {
		name: "hosts stay grouped: a host's addresses are not interleaved with the next host's",
		in: dom(mxOK(MX{10, "a.example.com"}, MX{20, "b.example.com"}), map[string]HostAnswers{
			"a.example.com": both([]string{"192.0.2.1"}, []string{"2001:db8::1"}),
			"b.example.com": both([]string{"192.0.2.2"}, []string{"2001:db8::2"}),
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1", "a.example.com/10/2001:db8::1", "b.example.com/20/192.0.2.2", "b.example.com/20/2001:db8::2"},
	}})
}

// Rule 3: each address once, at its most preferred position.
func TestBuildDeduplicatesAddresses(t *testing.T) {
	runPlanCases(t, []planCase{{
		name: "same address under two hosts",
		in: dom(mxOK(MX{10, "a.example.com"}, MX{20, "b.example.com"}), map[string]HostAnswers{
			"a.example.com": only4("192.0.2.1"),
			"b.example.com": only4("192.0.2.2", "192.0.2.1"),
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1", "b.example.com/20/192.0.2.2"},
		skipped:  []string{"b.example.com/20/192.0.2.1/duplicate_address"},
	}, {
		name: "same address twice in one answer",
		in: dom(mxOK(MX{10, "a.example.com"}), map[string]HostAnswers{
			"a.example.com": only4("192.0.2.1", "192.0.2.2", "192.0.2.1"),
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1", "a.example.com/10/192.0.2.2"},
		skipped:  []string{"a.example.com/10/192.0.2.1/duplicate_address"},
	}, {
		name: "the same host listed at two preferences",
		in: dom(mxOK(MX{20, "a.example.com"}, MX{10, "a.example.com"}), map[string]HostAnswers{
			"a.example.com": {V4: AddrAnswer{Status: StatusOK, Addrs: ips("192.0.2.1"), TTL: addrTTL, CNAMEs: []string{"real.example.net"}}, V6: ok()},
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1"},
		skipped:  []string{"a.example.com/20/192.0.2.1/duplicate_address"},
		// One finding about a host is reported once, not once per record.
		warnings: []string{"mx_target_cname/a.example.com"},
	}, {
		name: "an IPv4-mapped AAAA record is the same address as the A record",
		in: dom(mxOK(MX{10, "a.example.com"}), map[string]HostAnswers{
			"a.example.com": both([]string{"192.0.2.1"}, []string{"::ffff:192.0.2.1", "2001:db8::1"}),
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1", "a.example.com/10/2001:db8::1"},
		skipped:  []string{"a.example.com/10/192.0.2.1/duplicate_address"},
	}})
}

// Rule 3 on the seed's layout, over many seeds so both tie orders are seen.
func TestBuildSeedLayout(t *testing.T) {
	orders := map[string]int{}
	for seed := range uint64(200) {
		p := Build(seedInput(), nil, seeded(seed))
		if p.Disposition != Deliver || p.Reason != ReasonOK || p.EnhancedStatus != "" {
			t.Fatalf("seed %d: disposition %s/%s/%q, want deliver/ok/\"\"", seed, p.Disposition, p.Reason, p.EnhancedStatus)
		}
		got := attemptsOf(p)
		orders[join(got)]++
		if want := []string{"mail1.example.com/10/172.16.10.1", "mail2.example.com/10/172.16.10.2"}; !slices.Equal(sorted(got), want) {
			t.Fatalf("seed %d: attempts %s, want exactly %s in some order", seed, join(got), join(want))
		}
		if got, want := skippedOf(p), []string{"mail3.example.com/20/172.16.10.1/duplicate_address", "mail4.example.com/30/172.16.10.2/duplicate_address"}; !slices.Equal(got, want) {
			t.Fatalf("seed %d: skipped %s, want %s", seed, join(got), join(want))
		}
		if len(p.Warnings) != 0 {
			t.Fatalf("seed %d: warnings %v, want none", seed, p.Warnings)
		}
		// The TTL is the records': the AAAA lookups' NODATA decided
		// nothing (every host has an address), so its shorter negative
		// TTL does not count.
		if p.TTL != 5*time.Minute {
			t.Fatalf("seed %d: TTL %v, want the records' 5m", seed, p.TTL)
		}
	}
	if len(orders) != 2 {
		t.Errorf("over 200 seeds the tie at preference 10 came out in %d orders (%v), want both", len(orders), orders)
	}
}

// Rule 4: implicit MX.
func TestBuildImplicitMX(t *testing.T) {
	runPlanCases(t, []planCase{{
		name: "NODATA and A records: the domain is its own mail host at preference 0",
		in: dom(mxOK(), map[string]HostAnswers{
			"example.com": both([]string{"192.0.2.1"}, []string{"2001:db8::1"}),
		}),
		disp: Deliver, reason: ReasonOK, implicit: true,
		attempts: []string{"example.com/0/192.0.2.1", "example.com/0/2001:db8::1"},
	}, {
		name: "NODATA and only AAAA",
		in: dom(mxOK(), map[string]HostAnswers{
			"example.com": {V4: ok(), V6: ok("2001:db8::1")},
		}),
		disp: Deliver, reason: ReasonOK, implicit: true,
		attempts: []string{"example.com/0/2001:db8::1"},
	}, {
		name: "CNAME at the domain is not an MX target: no warning",
		in: dom(mxOK(), map[string]HostAnswers{
			"example.com": {V4: AddrAnswer{Status: StatusOK, Addrs: ips("192.0.2.1"), CNAMEs: []string{"web.example.net"}, TTL: addrTTL}, V6: ok()},
		}),
		disp: Deliver, reason: ReasonOK, implicit: true,
		attempts: []string{"example.com/0/192.0.2.1"},
	}, {
		name: "NODATA and no addresses",
		in: dom(mxOK(), map[string]HostAnswers{
			"example.com": {V4: ok(), V6: ok()},
		}),
		disp: PermanentFailure, reason: ReasonNoMailHosts, status: "5.4.4", implicit: true,
		skipped: []string{"example.com/0/-/no_addresses"},
	}, {
		name: "NODATA and the address lookups say NXDOMAIN",
		in: dom(mxOK(), map[string]HostAnswers{
			"example.com": {V4: AddrAnswer{Status: StatusNXDomain, TTL: negTTL}, V6: AddrAnswer{Status: StatusNXDomain, TTL: negTTL}},
		}),
		disp: PermanentFailure, reason: ReasonNoMailHosts, status: "5.4.4", implicit: true,
		skipped: []string{"example.com/0/-/no_addresses"},
	}, {
		name: "NODATA and the address lookup failed temporarily",
		in: dom(mxOK(), map[string]HostAnswers{
			"example.com": {V4: tempFail(), V6: ok()},
		}),
		disp: TemporaryFailure, reason: ReasonDNSError, status: "4.4.3", implicit: true,
		skipped:  []string{"example.com/0/-/lookup_failed"},
		warnings: []string{"address_lookup_failed/example.com"},
	}, {
		name: "NODATA and the address lookups were not made",
		in:   dom(mxOK(), nil),
		disp: TemporaryFailure, reason: ReasonDNSError, status: "4.4.3", implicit: true,
		skipped:  []string{"example.com/0/-/lookup_failed"},
		warnings: []string{"address_lookup_failed/example.com"},
	}, {
		name: "NODATA and only loopback",
		in: dom(mxOK(), map[string]HostAnswers{
			"example.com": only4("127.0.0.1"),
		}),
		disp: PermanentFailure, reason: ReasonNoMailHosts, status: "5.4.4", implicit: true,
		skipped: []string{"example.com/0/127.0.0.1/ignored_network"},
	}})
}

// Rule 5: null MX (RFC 7505).
func TestBuildNullMX(t *testing.T) {
	good := map[string]HostAnswers{"mx.example.com": only4("192.0.2.1")}
	runPlanCases(t, []planCase{{
		name: "single MX to the root",
		in:   dom(mxOK(MX{0, ""}), good),
		disp: PermanentFailure, reason: ReasonNullMX, status: "5.1.10",
	}, {
		name: "single MX to the root at a non-zero preference",
		in:   dom(mxOK(MX{10, ""}), good),
		disp: PermanentFailure, reason: ReasonNullMX, status: "5.1.10",
	}, {
		name: "single MX to 0.0.0.0",
		in:   dom(mxOK(MX{0, "0.0.0.0"}), good),
		disp: PermanentFailure, reason: ReasonNullMX, status: "5.1.10",
	}, {
		name: "single MX to ::",
		in:   dom(mxOK(MX{0, "::"}), good),
		disp: PermanentFailure, reason: ReasonNullMX, status: "5.1.10",
	}, {
		name: "two records, both the root",
		in:   dom(mxOK(MX{0, ""}, MX{10, ""}), good),
		disp: PermanentFailure, reason: ReasonNullMX, status: "5.1.10",
	}, {
		name: "null MX alongside a real one: warned, the real one used",
		in:   dom(mxOK(MX{0, ""}, MX{10, "mx.example.com"}), good),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"mx.example.com/10/192.0.2.1"},
		skipped:  []string{"./0/-/invalid_host"},
		warnings: []string{"null_mx_with_others/."},
	}, {
		name: "0.0.0.0 alongside a real one is just an undiallable target",
		in:   dom(mxOK(MX{0, "0.0.0.0"}, MX{10, "mx.example.com"}), good),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"mx.example.com/10/192.0.2.1"},
		skipped:  []string{"0.0.0.0/0/0.0.0.0/ignored_network"},
		warnings: []string{"mx_target_is_ip/0.0.0.0"},
	}, {
		name: "null MX with a stale answer still warns",
		in:   dom(MXAnswer{Status: StatusOK, Records: []MX{{0, ""}}, TTL: mxTTL, Stale: true}, nil),
		disp: PermanentFailure, reason: ReasonNullMX, status: "5.1.10",
		warnings: []string{"stale_dns/"},
	}})
}

// Rule 12: the plan's TTL.
func TestBuildTTL(t *testing.T) {
	hosts := map[string]HostAnswers{
		"a.example.com": {V4: AddrAnswer{Status: StatusOK, Addrs: ips("192.0.2.1"), TTL: 900 * time.Second}, V6: AddrAnswer{Status: StatusOK, Addrs: ips("2001:db8::1"), TTL: 600 * time.Second}},
		"b.example.com": {V4: AddrAnswer{Status: StatusOK, Addrs: ips("192.0.2.2"), TTL: 120 * time.Second}, V6: AddrAnswer{Status: StatusOK, TTL: 3600 * time.Second}},
	}
	cases := []struct {
		name string
		in   Input
		opts func(*Options)
		want time.Duration
	}{
		{"smallest of MX and address records", dom(mxOK(MX{10, "a.example.com"}, MX{20, "b.example.com"}), hosts), nil, 120 * time.Second},
		{"MX record smallest", dom(MXAnswer{Status: StatusOK, Records: []MX{{10, "a.example.com"}}, TTL: 30 * time.Second}, hosts), nil, 30 * time.Second},
		{"filtered family's TTL does not count", dom(mxOK(MX{10, "a.example.com"}), hosts), func(o *Options) { o.Family = FamilyIPv4 }, 900 * time.Second},
		{"NXDOMAIN: the negative TTL", dom(MXAnswer{Status: StatusNXDomain, TTL: negTTL}, nil), nil, negTTL},
		{"null MX: the MX TTL", dom(mxOK(MX{0, ""}), nil), nil, mxTTL},
		{"implicit MX: the negative MX TTL and the address TTL", dom(mxOK(), map[string]HostAnswers{"example.com": only4("192.0.2.1")}), nil, negTTL},
		{"MX temporary failure: 0", dom(MXAnswer{Status: StatusTempFail, TTL: mxTTL}, nil), nil, 0},
		{"address temporary failure: 0, not the MX TTL", dom(mxOK(MX{10, "c.example.com"}), map[string]HostAnswers{"c.example.com": {V4: tempFail(), V6: tempFail()}}), nil, 0},
		{"backup MX temporary failure: 0", dom(mxOK(MX{10, "c.example.com"}, MX{20, "b.example.com"}), map[string]HostAnswers{"c.example.com": {V4: ok(), V6: ok()}, "b.example.com": hosts["b.example.com"]}), func(o *Options) { o.LocalNames = map[string]bool{"b.example.com": true} }, 0},
		{"negative TTL from a broken caller is clamped, not a sentinel", dom(MXAnswer{Status: StatusOK, Records: []MX{{10, "a.example.com"}}, TTL: -5 * time.Second}, hosts), nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := seeded(1)
			if tc.opts != nil {
				tc.opts(&o)
			}
			if got := Build(tc.in, nil, o).TTL; got != tc.want {
				t.Errorf("TTL = %v, want %v", got, tc.want)
			}
		})
	}
}

// Build must not touch its input: callers share cached answers between
// requests, so a shuffle in place would corrupt the cache.
func TestBuildDoesNotModifyInput(t *testing.T) {
	in := dom(mxOK(MX{30, "c.example.com"}, MX{10, "a.example.com"}, MX{10, "b.example.com"}), map[string]HostAnswers{
		"a.example.com": both([]string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, []string{"2001:db8::1"}),
		"b.example.com": only4("192.0.2.4", "192.0.2.5"),
		"c.example.com": only4("192.0.2.6"),
	})
	for i := range 50 {
		o := seeded(uint64(i))
		o.AddressOrder = OrderRandom
		Build(in, nil, o)
	}
	if got := in.MX.Records; !slices.Equal(got, []MX{{30, "c.example.com"}, {10, "a.example.com"}, {10, "b.example.com"}}) {
		t.Errorf("MX records now %v", got)
	}
	if got := in.Hosts["a.example.com"].V4.Addrs; !slices.Equal(got, ips("192.0.2.1", "192.0.2.2", "192.0.2.3")) {
		t.Errorf("a's A records now %v", got)
	}
}

// Rule 3 for large answers, where de-duplication switches from a scan to a
// set: every copy is still found, and the first occurrence still wins.
func TestBuildLargeAnswers(t *testing.T) {
	var a, b []string
	for i := range 3000 {
		a = append(a, netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String())
	}
	for i := 1500; i < 4500; i++ {
		b = append(b, netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String())
	}
	b = append(b, a[0], a[dedupScan], a[dedupScan+1])
	in := dom(mxOK(MX{20, "b.example.com"}, MX{10, "a.example.com"}), map[string]HostAnswers{
		"a.example.com": only4(a...),
		"b.example.com": only4(b...),
	})
	o := seeded(1)
	o.MaxAttempts = 0
	p := Build(in, nil, o)
	if len(p.Attempts) != 4500 {
		t.Fatalf("%d attempts, want 4500 distinct addresses", len(p.Attempts))
	}
	dups := 0
	for _, s := range p.Skipped {
		if s.Reason != SkipDuplicate || s.Host != "b.example.com" {
			t.Fatalf("skipped %+v, want only duplicates under b", s)
		}
		dups++
	}
	if dups != 1503 {
		t.Errorf("%d duplicates, want 1503", dups)
	}
	for i, at := range p.Attempts {
		if want := a; i < len(a) && (at.Host != "a.example.com" || at.Address.String() != want[i]) {
			t.Fatalf("attempt %d is %s/%s, want a.example.com/%s", i, at.Host, at.Address, want[i])
		}
	}
}
