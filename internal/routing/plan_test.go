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
		// The AAAA lookups' NODATA is part of the plan too (an AAAA record
		// appearing would change it), so its negative TTL is the smallest.
		if p.TTL != negTTL {
			t.Fatalf("seed %d: TTL %v, want %v", seed, p.TTL, negTTL)
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

// Rule 6: DNS failures.
func TestBuildDNSFailures(t *testing.T) {
	runPlanCases(t, []planCase{{
		name: "NXDOMAIN",
		in:   dom(MXAnswer{Status: StatusNXDomain, TTL: negTTL}, nil),
		disp: PermanentFailure, reason: ReasonNXDomain, status: "5.1.2",
	}, {
		name: "MX lookup failed temporarily",
		in:   dom(MXAnswer{Status: StatusTempFail}, map[string]HostAnswers{"example.com": only4("192.0.2.1")}),
		disp: TemporaryFailure, reason: ReasonDNSError, status: "4.4.3",
	}, {
		name: "MX records but no target resolves",
		in: dom(mxOK(MX{10, "a.example.com"}, MX{20, "b.example.com"}), map[string]HostAnswers{
			"a.example.com": {V4: ok(), V6: ok()},
			"b.example.com": {V4: AddrAnswer{Status: StatusNXDomain, TTL: negTTL}, V6: AddrAnswer{Status: StatusNXDomain, TTL: negTTL}},
		}),
		disp: PermanentFailure, reason: ReasonNoMailHosts, status: "5.4.4",
		skipped:  []string{"a.example.com/10/-/no_addresses", "b.example.com/20/-/no_addresses"},
		warnings: []string{"mx_target_unresolvable/a.example.com", "mx_target_unresolvable/b.example.com"},
	}, {
		name: "MX records but every address is undiallable",
		in: dom(mxOK(MX{10, "a.example.com"}), map[string]HostAnswers{
			"a.example.com": both([]string{"127.0.0.1"}, []string{"::1"}),
		}),
		disp: PermanentFailure, reason: ReasonNoMailHosts, status: "5.4.4",
		skipped: []string{"a.example.com/10/127.0.0.1/ignored_network", "a.example.com/10/::1/ignored_network"},
	}, {
		name: "the only target's lookup failed temporarily: temporary, not permanent",
		in: dom(mxOK(MX{10, "a.example.com"}, MX{20, "b.example.com"}), map[string]HostAnswers{
			"a.example.com": {V4: tempFail(), V6: tempFail()},
			"b.example.com": {V4: ok(), V6: ok()},
		}),
		disp: TemporaryFailure, reason: ReasonDNSError, status: "4.4.3",
		skipped:  []string{"a.example.com/10/-/lookup_failed", "b.example.com/20/-/no_addresses"},
		warnings: []string{"address_lookup_failed/a.example.com", "mx_target_unresolvable/b.example.com"},
	}, {
		name: "a target's lookup failed temporarily but another host is usable",
		in: dom(mxOK(MX{10, "a.example.com"}, MX{20, "b.example.com"}), map[string]HostAnswers{
			"a.example.com": {V4: tempFail(), V6: tempFail()},
			"b.example.com": only4("192.0.2.2"),
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"b.example.com/20/192.0.2.2"},
		skipped:  []string{"a.example.com/10/-/lookup_failed"},
		warnings: []string{"address_lookup_failed/a.example.com"},
	}, {
		name: "a target the caller did not look up counts as a temporary failure",
		in:   dom(mxOK(MX{10, "a.example.com"}), map[string]HostAnswers{}),
		disp: TemporaryFailure, reason: ReasonDNSError, status: "4.4.3",
		skipped:  []string{"a.example.com/10/-/lookup_failed"},
		warnings: []string{"address_lookup_failed/a.example.com"},
	}, {
		name: "AAAA failed, A gave only undiallable addresses: the AAAA answer might have helped",
		in: dom(mxOK(MX{10, "a.example.com"}), map[string]HostAnswers{
			"a.example.com": {V4: ok("127.0.0.1"), V6: tempFail()},
		}),
		disp: TemporaryFailure, reason: ReasonDNSError, status: "4.4.3",
		skipped:  []string{"a.example.com/10/127.0.0.1/ignored_network"},
		warnings: []string{"address_lookup_failed/a.example.com"},
	}, {
		name: "AAAA failed, A usable: deliver with a warning",
		in: dom(mxOK(MX{10, "a.example.com"}), map[string]HostAnswers{
			"a.example.com": {V4: ok("192.0.2.1"), V6: tempFail()},
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1"},
		warnings: []string{"address_lookup_failed/a.example.com"},
	}, {
		name: "a failed lookup answer carries no addresses even if it lists some",
		in: dom(mxOK(MX{10, "a.example.com"}, MX{20, "b.example.com"}), map[string]HostAnswers{
			"a.example.com": {V4: AddrAnswer{Status: StatusTempFail, Addrs: ips("192.0.2.1")}, V6: AddrAnswer{Status: StatusNXDomain, Addrs: ips("2001:db8::1")}},
			"b.example.com": only4("192.0.2.2"),
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"b.example.com/20/192.0.2.2"},
		skipped:  []string{"a.example.com/10/-/lookup_failed"},
		warnings: []string{"address_lookup_failed/a.example.com"},
	}, {
		name: "stale answers are used and warned about",
		in: dom(MXAnswer{Status: StatusOK, Records: []MX{{10, "a.example.com"}}, TTL: mxTTL, Stale: true}, map[string]HostAnswers{
			"a.example.com": {V4: AddrAnswer{Status: StatusOK, Addrs: ips("192.0.2.1"), TTL: addrTTL, Stale: true}, V6: AddrAnswer{Status: StatusOK, TTL: negTTL, Stale: true}},
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1"},
		warnings: []string{"stale_dns/", "stale_dns/a.example.com"},
	}})
}

// Rule 7: odd MX targets.
func TestBuildOddTargets(t *testing.T) {
	good := func(extra map[string]HostAnswers) map[string]HostAnswers {
		m := map[string]HostAnswers{"good.example.com": only4("192.0.2.1")}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	disallowIP := func(o *Options) { o.AllowMXToIP = false }
	runPlanCases(t, []planCase{{
		name: "target without addresses is skipped",
		in:   dom(mxOK(MX{10, "gone.example.com"}, MX{20, "good.example.com"}), good(map[string]HostAnswers{"gone.example.com": {V4: ok(), V6: ok()}})),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"good.example.com/20/192.0.2.1"},
		skipped:  []string{"gone.example.com/10/-/no_addresses"},
		warnings: []string{"mx_target_unresolvable/gone.example.com"},
	}, {
		name: "CNAME target followed with a warning",
		in: dom(mxOK(MX{10, "alias.example.com"}), map[string]HostAnswers{
			"alias.example.com": {V4: AddrAnswer{Status: StatusOK, Addrs: ips("192.0.2.7"), CNAMEs: []string{"real.example.net"}, TTL: addrTTL}, V6: AddrAnswer{Status: StatusOK, CNAMEs: []string{"real.example.net"}, TTL: negTTL}},
		}),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"alias.example.com/10/192.0.2.7"},
		warnings: []string{"mx_target_cname/alias.example.com"},
	}, {
		name: "IPv4 literal target used when allowed",
		in:   dom(mxOK(MX{10, "192.0.2.9"}, MX{20, "good.example.com"}), good(nil)),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"192.0.2.9/10/192.0.2.9", "good.example.com/20/192.0.2.1"},
		warnings: []string{"mx_target_is_ip/192.0.2.9"},
	}, {
		name: "IPv6 literal target used when allowed",
		in:   dom(mxOK(MX{10, "2001:db8::9"}), nil),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"2001:db8::9/10/2001:db8::9"},
		warnings: []string{"mx_target_is_ip/2001:db8::9"},
	}, {
		name: "IP literal target skipped when disallowed",
		in:   dom(mxOK(MX{10, "192.0.2.9"}, MX{20, "good.example.com"}), good(nil)),
		opts: disallowIP,
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"good.example.com/20/192.0.2.1"},
		skipped:  []string{"192.0.2.9/10/-/mx_to_ip_disallowed"},
		warnings: []string{"mx_target_is_ip/192.0.2.9"},
	}, {
		name: "only an IP literal target, disallowed",
		in:   dom(mxOK(MX{10, "192.0.2.9"}), nil),
		opts: disallowIP,
		disp: PermanentFailure, reason: ReasonNoMailHosts, status: "5.4.4",
		skipped:  []string{"192.0.2.9/10/-/mx_to_ip_disallowed"},
		warnings: []string{"mx_target_is_ip/192.0.2.9"},
	}, {
		name: "IP literal of loopback is still never dialled",
		in:   dom(mxOK(MX{10, "127.0.0.1"}, MX{20, "good.example.com"}), good(nil)),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"good.example.com/20/192.0.2.1"},
		skipped:  []string{"127.0.0.1/10/127.0.0.1/ignored_network"},
		warnings: []string{"mx_target_is_ip/127.0.0.1"},
	}, {
		name: "an address with a zone is not an IP literal: it would dodge the ignore list",
		in:   dom(mxOK(MX{10, "::1%lo"}, MX{20, "fe80::1%eth0"}, MX{30, "good.example.com"}), good(nil)),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"good.example.com/30/192.0.2.1"},
		skipped:  []string{"::1%lo/10/-/invalid_host", "fe80::1%eth0/20/-/invalid_host"},
		warnings: []string{"mx_target_invalid/::1%lo", "mx_target_invalid/fe80::1%eth0"},
	}, {
		name: "invalid host names",
		in: dom(mxOK(
			MX{1, "bad_host.example.com"}, MX{2, "-x.example.com"}, MX{3, "a..b"}, MX{4, "sp ace.example.com"},
			MX{5, "mx.example.com."}, MX{6, "[192.0.2.1]"}, MX{7, "1.2.3.4.5"}, MX{8, "good.example.com"},
		), good(map[string]HostAnswers{"bad_host.example.com": only4("192.0.2.66")})),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"good.example.com/8/192.0.2.1"},
		skipped: []string{
			"bad_host.example.com/1/-/invalid_host", "-x.example.com/2/-/invalid_host", "a..b/3/-/invalid_host",
			"sp ace.example.com/4/-/invalid_host", "mx.example.com./5/-/invalid_host", "[192.0.2.1]/6/-/invalid_host",
			"1.2.3.4.5/7/-/invalid_host",
		},
		warnings: []string{
			"mx_target_invalid/bad_host.example.com", "mx_target_invalid/-x.example.com", "mx_target_invalid/a..b",
			"mx_target_invalid/sp ace.example.com", "mx_target_invalid/mx.example.com.", "mx_target_invalid/[192.0.2.1]",
			"mx_target_invalid/1.2.3.4.5",
		},
	}})
}

// Rule 8: addresses that are never dialled, and private ranges.
func TestBuildNeverDials(t *testing.T) {
	never := []string{
		"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.255.254", "169.254.1.1", "224.0.0.1", "239.255.255.255",
		"255.255.255.255", "240.0.0.1", "::", "::1", "fe80::1", "fe80::abcd:1", "ff02::1", "ff0e::1",
		"::ffff:127.0.0.1", "::ffff:0.0.0.0", "::ffff:169.254.0.1", "64:ff9b::7f00:1", "64:ff9b::e000:1",
	}
	dialled := []string{
		"10.0.0.1", "172.16.10.1", "192.168.1.1", "100.64.0.1", "fc00::1", "fd12:3456::1",
		"192.0.2.1", "198.51.100.1", "2001:db8::1", "64:ff9b::c000:201", "1.1.1.1", "126.255.255.255",
		"128.0.0.1", "223.255.255.255", "169.253.255.255",
	}
	private := []string{"10.0.0.1", "172.16.10.1", "172.31.255.255", "192.168.1.1", "100.64.0.1", "fc00::1", "fd12:3456::1", "::ffff:10.1.2.3", "64:ff9b::a00:1"}
	public := []string{"172.32.0.1", "100.128.0.1", "192.0.2.1", "2001:db8::1", "11.0.0.1"}

	// plan puts addr alone under one host, with a good host behind it so the
	// plan still delivers and the skipped entry is easy to find.
	plan := func(addr string, opts Options) Plan {
		a := netip.MustParseAddr(addr)
		h := HostAnswers{V4: ok(), V6: ok()}
		if a.Is4() {
			h.V4 = ok(addr)
		} else {
			h.V6 = ok(addr)
		}
		in := dom(mxOK(MX{10, "x.example.com"}, MX{20, "good.example.com"}), map[string]HostAnswers{
			"x.example.com":    h,
			"good.example.com": only4("203.0.113.1"),
		})
		return Build(in, nil, opts)
	}
	check := func(t *testing.T, addr string, opts Options, want SkipReason) {
		t.Helper()
		p := plan(addr, opts)
		canon := netip.MustParseAddr(addr).Unmap().String()
		var got []string
		for _, s := range p.Skipped {
			got = append(got, s.Address.String()+"/"+string(s.Reason))
		}
		inAttempts := slices.Contains(addrsOf(p), canon)
		switch {
		case want == "" && (!inAttempts || len(got) != 0):
			t.Errorf("%s: attempts %v, skipped %v; want it in the attempts", addr, addrsOf(p), got)
		case want != "" && (inAttempts || !slices.Equal(got, []string{canon + "/" + string(want)})):
			t.Errorf("%s: attempts %v, skipped %v; want skipped %s", addr, addrsOf(p), got, want)
		}
		if p.Disposition != Deliver {
			t.Errorf("%s: disposition %s, want deliver through the good host", addr, p.Disposition)
		}
	}

	t.Run("default never-dial list", func(t *testing.T) {
		for _, a := range never {
			check(t, a, DefaultOptions(), SkipIgnoredNetwork)
		}
		for _, a := range dialled {
			check(t, a, DefaultOptions(), "")
		}
	})
	t.Run("BlockPrivate", func(t *testing.T) {
		o := DefaultOptions()
		o.BlockPrivate = true
		for _, a := range private {
			check(t, a, o, SkipPrivateNetwork)
		}
		for _, a := range public {
			check(t, a, o, "")
		}
		// A loopback address is reported as ignored, the stronger reason.
		check(t, "127.0.0.1", o, SkipIgnoredNetwork)
	})
	t.Run("configured list replaces the default", func(t *testing.T) {
		o := DefaultOptions()
		o.IgnoreNetworks = []netip.Prefix{}
		check(t, "127.0.0.2", o, "")
		check(t, "::1", o, "")
		o.IgnoreNetworks = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
		check(t, "198.51.100.7", o, SkipIgnoredNetwork)
		check(t, "::ffff:198.51.100.7", o, SkipIgnoredNetwork)
		check(t, "127.0.0.1", o, "")
	})
	t.Run("zero Options ignore nothing", func(t *testing.T) {
		check(t, "127.0.0.1", Options{}, "")
	})
	t.Run("invalid and zoned addresses from a caller are never dialled", func(t *testing.T) {
		in := dom(mxOK(MX{10, "x.example.com"}), map[string]HostAnswers{
			"x.example.com": {V4: ok(), V6: AddrAnswer{Status: StatusOK, Addrs: []netip.Addr{{}, netip.MustParseAddr("::1%lo"), netip.MustParseAddr("2001:db8::1%eth0")}, TTL: addrTTL}},
		})
		p := Build(in, nil, DefaultOptions())
		// The zero Addr is no address at all and is dropped; a zone would
		// make Prefix.Contains false and so dodge the ignore list.
		want := []string{"x.example.com/10/2001:db8::1%eth0/ignored_network", "x.example.com/10/::1%lo/ignored_network"}
		if p.Disposition != PermanentFailure || len(p.Attempts) != 0 || !slices.Equal(skippedOf(p), want) {
			t.Errorf("got %s attempts %v skipped %v; want a permanent failure with skipped %v", p.Disposition, attemptsOf(p), skippedOf(p), want)
		}
	})
}

// Rule 9: the RFC 5321 5.1 self-loop rule.
func TestBuildSelfLoop(t *testing.T) {
	hosts := map[string]HostAnswers{
		"a.example.com":  only4("192.0.2.1"),
		"me.example.com": only4("192.0.2.20"),
		"c.example.com":  only4("192.0.2.3"),
		"d.example.com":  only4("192.0.2.4"),
	}
	byName := func(o *Options) { o.LocalNames = map[string]bool{"me.example.com": true} }
	byAddr := func(o *Options) { o.LocalAddrs = map[netip.Addr]bool{netip.MustParseAddr("192.0.2.20"): true} }
	runPlanCases(t, []planCase{{
		name: "local host and everything after it discarded",
		in:   dom(mxOK(MX{10, "a.example.com"}, MX{20, "me.example.com"}, MX{30, "c.example.com"}), hosts),
		opts: byName,
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1"},
		skipped:  []string{"me.example.com/20/-/self_loop", "c.example.com/30/-/self_loop"},
	}, {
		name: "hosts at the local host's own preference are discarded too",
		in:   dom(mxOK(MX{10, "a.example.com"}, MX{20, "me.example.com"}, MX{20, "c.example.com"}), hosts),
		opts: byName,
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1"},
		skipped:  []string{"me.example.com/20/-/self_loop", "c.example.com/20/-/self_loop"},
	}, {
		name: "local host most preferred: the message loops",
		in:   dom(mxOK(MX{10, "me.example.com"}, MX{20, "c.example.com"}), hosts),
		opts: byName,
		disp: PermanentFailure, reason: ReasonLoopsToSelf, status: "5.4.6",
		skipped: []string{"me.example.com/10/-/self_loop", "c.example.com/20/-/self_loop"},
	}, {
		name: "local host tied for most preferred: the message loops",
		in:   dom(mxOK(MX{10, "c.example.com"}, MX{10, "me.example.com"}), hosts),
		opts: byName,
		disp: PermanentFailure, reason: ReasonLoopsToSelf, status: "5.4.6",
		skipped: []string{"me.example.com/10/-/self_loop", "c.example.com/10/-/self_loop"},
	}, {
		name: "local host detected by address",
		in:   dom(mxOK(MX{10, "a.example.com"}, MX{20, "other-name.example.com"}, MX{30, "c.example.com"}), map[string]HostAnswers{"a.example.com": only4("192.0.2.1"), "other-name.example.com": only4("192.0.2.99", "192.0.2.20"), "c.example.com": only4("192.0.2.3")}),
		opts: byAddr,
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1"},
		skipped:  []string{"other-name.example.com/20/-/self_loop", "c.example.com/30/-/self_loop"},
	}, {
		name: "local host detected by an IPv4-mapped AAAA record",
		in:   dom(mxOK(MX{10, "a.example.com"}, MX{20, "v6.example.com"}), map[string]HostAnswers{"a.example.com": only4("192.0.2.1"), "v6.example.com": {V4: ok(), V6: ok("::ffff:192.0.2.20")}}),
		opts: byAddr,
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1"},
		skipped:  []string{"v6.example.com/20/-/self_loop"},
	}, {
		name: "local host detected by an address of a family the plan filters out",
		in:   dom(mxOK(MX{10, "a.example.com"}, MX{20, "me2.example.com"}), map[string]HostAnswers{"a.example.com": only4("192.0.2.1"), "me2.example.com": both([]string{"192.0.2.20"}, []string{"2001:db8::20"})}),
		opts: func(o *Options) { byAddr(o); o.Family = FamilyIPv6 },
		disp: TemporaryFailure, reason: ReasonNoMailHosts, status: "4.4.4",
		skipped: []string{"a.example.com/10/192.0.2.1/family_filtered", "me2.example.com/20/-/self_loop"},
	}, {
		name: "implicit MX to ourselves loops",
		in:   dom(mxOK(), map[string]HostAnswers{"example.com": only4("192.0.2.20")}),
		opts: byAddr,
		disp: PermanentFailure, reason: ReasonLoopsToSelf, status: "5.4.6", implicit: true,
		skipped: []string{"example.com/0/-/self_loop"},
	}, {
		// Postfix: "unable to find primary relay" (4.4.4). A backup MX must
		// hold the mail while the primary is broken, not bounce it.
		name: "backup MX whose better hosts are all unusable: temporary",
		in:   dom(mxOK(MX{10, "a.example.com"}, MX{20, "me.example.com"}), map[string]HostAnswers{"a.example.com": {V4: ok(), V6: ok()}, "me.example.com": only4("192.0.2.20")}),
		opts: byName,
		disp: TemporaryFailure, reason: ReasonNoMailHosts, status: "4.4.4",
		skipped:  []string{"a.example.com/10/-/no_addresses", "me.example.com/20/-/self_loop"},
		warnings: []string{"mx_target_unresolvable/a.example.com"},
	}, {
		name: "backup MX whose better host's lookup failed: temporary DNS error",
		in:   dom(mxOK(MX{10, "a.example.com"}, MX{20, "me.example.com"}), map[string]HostAnswers{"a.example.com": {V4: tempFail(), V6: tempFail()}, "me.example.com": only4("192.0.2.20")}),
		opts: byName,
		disp: TemporaryFailure, reason: ReasonDNSError, status: "4.4.3",
		skipped:  []string{"a.example.com/10/-/lookup_failed", "me.example.com/20/-/self_loop"},
		warnings: []string{"address_lookup_failed/a.example.com"},
	}, {
		name: "a failed lookup behind the local host is no DNS error",
		in:   dom(mxOK(MX{10, "a.example.com"}, MX{20, "me.example.com"}, MX{30, "c.example.com"}), map[string]HostAnswers{"a.example.com": only4("127.0.0.1"), "me.example.com": only4("192.0.2.20"), "c.example.com": {V4: tempFail(), V6: tempFail()}}),
		opts: byName,
		disp: TemporaryFailure, reason: ReasonNoMailHosts, status: "4.4.4",
		skipped:  []string{"a.example.com/10/127.0.0.1/ignored_network", "me.example.com/20/-/self_loop", "c.example.com/30/-/lookup_failed"},
		warnings: []string{"address_lookup_failed/c.example.com"},
	}, {
		name: "no local names or addresses configured: nothing is local",
		in:   dom(mxOK(MX{10, "me.example.com"}), hosts),
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"me.example.com/10/192.0.2.20"},
	}})
}

// Rule 10: family filter and attempt limit.
func TestBuildFamilyAndLimit(t *testing.T) {
	dual := map[string]HostAnswers{
		"a.example.com": both([]string{"192.0.2.1"}, []string{"2001:db8::1", "::ffff:192.0.2.9"}),
		"b.example.com": both([]string{"192.0.2.2"}, []string{"2001:db8::2"}),
	}
	ab := mxOK(MX{10, "a.example.com"}, MX{20, "b.example.com"})
	runPlanCases(t, []planCase{{
		name: "ipv4 only",
		in:   dom(ab, dual),
		opts: func(o *Options) { o.Family = FamilyIPv4 },
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1", "b.example.com/20/192.0.2.2"},
		skipped:  []string{"a.example.com/10/2001:db8::1/family_filtered", "b.example.com/20/2001:db8::2/family_filtered", "a.example.com/10/192.0.2.9/family_filtered"},
	}, {
		name: "ipv6 only; an IPv4-mapped AAAA record is IPv4",
		in:   dom(ab, dual),
		opts: func(o *Options) { o.Family = FamilyIPv6 },
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/2001:db8::1", "b.example.com/20/2001:db8::2"},
		skipped:  []string{"a.example.com/10/192.0.2.1/family_filtered", "a.example.com/10/192.0.2.9/family_filtered", "b.example.com/20/192.0.2.2/family_filtered"},
	}, {
		name: "ipv6 only, host has only IPv4",
		in:   dom(mxOK(MX{10, "b.example.com"}), map[string]HostAnswers{"b.example.com": only4("192.0.2.2")}),
		opts: func(o *Options) { o.Family = FamilyIPv6 },
		disp: PermanentFailure, reason: ReasonNoMailHosts, status: "5.4.4",
		skipped: []string{"b.example.com/10/192.0.2.2/family_filtered"},
	}, {
		name: "ipv4 only: the AAAA lookup was not made and its failure does not matter",
		in:   dom(mxOK(MX{10, "b.example.com"}), map[string]HostAnswers{"b.example.com": {V4: ok("192.0.2.2"), V6: tempFail()}}),
		opts: func(o *Options) { o.Family = FamilyIPv4 },
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"b.example.com/10/192.0.2.2"},
	}, {
		name: "ipv6 IP-literal target under ipv4",
		in:   dom(mxOK(MX{10, "2001:db8::9"}, MX{20, "b.example.com"}), dual),
		opts: func(o *Options) { o.Family = FamilyIPv4 },
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"b.example.com/20/192.0.2.2"},
		skipped:  []string{"2001:db8::9/10/2001:db8::9/family_filtered", "b.example.com/20/2001:db8::2/family_filtered"},
		warnings: []string{"mx_target_is_ip/2001:db8::9"},
	}, {
		name: "limit cuts the tail",
		in:   dom(mxOK(MX{10, "a.example.com"}), map[string]HostAnswers{"a.example.com": only4("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5")}),
		opts: func(o *Options) { o.MaxAttempts = 3 },
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1", "a.example.com/10/192.0.2.2", "a.example.com/10/192.0.2.3"},
		skipped:  []string{"a.example.com/10/192.0.2.4/max_attempts", "a.example.com/10/192.0.2.5/max_attempts"},
	}, {
		name: "duplicates and undiallable addresses do not eat the limit",
		in: dom(mxOK(MX{10, "a.example.com"}, MX{20, "b.example.com"}, MX{30, "c.example.com"}), map[string]HostAnswers{
			"a.example.com": only4("192.0.2.1", "127.0.0.1"),
			"b.example.com": only4("192.0.2.1", "192.0.2.2"),
			"c.example.com": only4("192.0.2.3"),
		}),
		opts: func(o *Options) { o.MaxAttempts = 2 },
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1", "b.example.com/20/192.0.2.2"},
		skipped:  []string{"a.example.com/10/127.0.0.1/ignored_network", "b.example.com/20/192.0.2.1/duplicate_address", "c.example.com/30/192.0.2.3/max_attempts"},
	}, {
		name: "limit 1",
		in:   dom(ab, dual),
		opts: func(o *Options) { o.MaxAttempts = 1; o.Family = FamilyIPv4 },
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1"},
		skipped:  []string{"a.example.com/10/2001:db8::1/family_filtered", "a.example.com/10/192.0.2.9/family_filtered", "b.example.com/20/192.0.2.2/max_attempts", "b.example.com/20/2001:db8::2/family_filtered"},
	}, {
		name: "no limit",
		in:   dom(mxOK(MX{10, "a.example.com"}), map[string]HostAnswers{"a.example.com": only4("192.0.2.1", "192.0.2.2", "192.0.2.3")}),
		opts: func(o *Options) { o.MaxAttempts = 0 },
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1", "a.example.com/10/192.0.2.2", "a.example.com/10/192.0.2.3"},
	}})
}

// Rule 10, the seed's layout: a limit of 2 still yields both addresses,
// because the duplicates at 20 and 30 are not counted.
func TestBuildSeedLayoutLimit(t *testing.T) {
	for _, max := range []int{1, 2, 3, 10} {
		o := seeded(7)
		o.MaxAttempts = max
		p := Build(seedInput(), nil, o)
		if want := min(max, 2); len(p.Attempts) != want {
			t.Errorf("MaxAttempts %d: %d attempts %v, want %d", max, len(p.Attempts), attemptsOf(p), want)
		}
	}
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

// Rule 13: health reorders and never drops.
func TestBuildHealth(t *testing.T) {
	// Four hosts, no ties except the first tier, so the order is fixed
	// apart from the tie, which is pinned by IntN returning 0.
	in := dom(mxOK(MX{10, "a.example.com"}, MX{10, "b.example.com"}, MX{20, "c.example.com"}, MX{30, "d.example.com"}), map[string]HostAnswers{
		"a.example.com": only4("192.0.2.1", "192.0.2.11"),
		"b.example.com": only4("192.0.2.2"),
		"c.example.com": only4("192.0.2.3"),
		"d.example.com": only4("192.0.2.4"),
	})
	// With IntN always 0 the Fisher-Yates pass over [a b c d] rotates to
	// [b c d a]; the stable sort then gives b before a at preference 10.
	pinned := func(o *Options) { o.IntN = func(int) int { return 0 } }
	base := []string{"b.example.com/10/192.0.2.2", "a.example.com/10/192.0.2.1", "a.example.com/10/192.0.2.11", "c.example.com/20/192.0.2.3", "d.example.com/30/192.0.2.4"}
	runPlanCases(t, []planCase{{
		name: "all healthy: RFC order", in: in, opts: pinned,
		disp: Deliver, reason: ReasonOK,
		attempts: base,
	}, {
		name: "within a tier healthy before demoted before drained", in: in, opts: pinned,
		health: map[string]State{"192.0.2.2": StateDrained, "192.0.2.1": StateDemoted},
		disp:   Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.11", "a.example.com/10/192.0.2.1/demoted", "b.example.com/10/192.0.2.2/drained", "c.example.com/20/192.0.2.3", "d.example.com/30/192.0.2.4"},
	}, {
		name: "a tier with no healthy address moves behind the tiers with one", in: in, opts: pinned,
		health: map[string]State{"192.0.2.2": StateDrained, "192.0.2.1": StateDemoted, "192.0.2.11": StateDemoted, "192.0.2.3": StateDemoted},
		disp:   Deliver, reason: ReasonOK,
		attempts: []string{"d.example.com/30/192.0.2.4", "a.example.com/10/192.0.2.1/demoted", "a.example.com/10/192.0.2.11/demoted", "b.example.com/10/192.0.2.2/drained", "c.example.com/20/192.0.2.3/demoted"},
	}, {
		name: "nothing healthy: plain RFC order", in: in, opts: pinned,
		health: map[string]State{"192.0.2.2": StateDrained, "192.0.2.1": StateDemoted, "192.0.2.11": StateDrained, "192.0.2.3": StateDemoted, "192.0.2.4": StateDrained},
		disp:   Deliver, reason: ReasonOK,
		attempts: []string{"b.example.com/10/192.0.2.2/drained", "a.example.com/10/192.0.2.1/demoted", "a.example.com/10/192.0.2.11/drained", "c.example.com/20/192.0.2.3/demoted", "d.example.com/30/192.0.2.4/drained"},
	}, {
		// The limit picks the addresses in RFC order; health only orders
		// them. Otherwise a fleet-wide outage of the primary would drop it
		// from plans entirely (RFC 974/1123: the lowest MX must be tried).
		name: "health never pushes an address out of a limited plan", in: in,
		opts:   func(o *Options) { pinned(o); o.MaxAttempts = 2 },
		health: map[string]State{"192.0.2.2": StateDemoted, "192.0.2.1": StateDemoted},
		disp:   Deliver, reason: ReasonOK,
		attempts: []string{"b.example.com/10/192.0.2.2/demoted", "a.example.com/10/192.0.2.1/demoted"},
		skipped:  []string{"a.example.com/10/192.0.2.11/max_attempts", "c.example.com/20/192.0.2.3/max_attempts", "d.example.com/30/192.0.2.4/max_attempts"},
	}})

	t.Run("health is asked only about plan addresses", func(t *testing.T) {
		var asked []string
		o := seeded(1)
		o.MaxAttempts = 2
		Build(in, func(a netip.Addr) State { asked = append(asked, a.String()); return StateHealthy }, o)
		if len(asked) != 2 {
			t.Errorf("health asked about %v, want just the 2 plan addresses", asked)
		}
	})
	t.Run("Demoted counts unhealthy attempts", func(t *testing.T) {
		p := Build(in, func(a netip.Addr) State {
			switch a.String() {
			case "192.0.2.1":
				return StateDemoted
			case "192.0.2.4":
				return StateDrained
			}
			return StateHealthy
		}, seeded(1))
		if got := p.Demoted(); got != 2 {
			t.Errorf("Demoted() = %d, want 2 (%v)", got, attemptsOf(p))
		}
		if got := Build(in, nil, seeded(1)).Demoted(); got != 0 {
			t.Errorf("Demoted() without health = %d, want 0", got)
		}
	})
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

// Targets names exactly the lookups Build will consult.
func TestTargets(t *testing.T) {
	cases := []struct {
		name string
		mx   MXAnswer
		want []string
	}{
		{"NODATA: the domain itself", mxOK(), []string{"example.com"}},
		{"NXDOMAIN: nothing", MXAnswer{Status: StatusNXDomain}, nil},
		{"temporary failure: nothing", MXAnswer{Status: StatusTempFail}, nil},
		{"null MX: nothing", mxOK(MX{0, ""}), nil},
		{"null MX twice: nothing", mxOK(MX{0, ""}, MX{5, ""}), nil},
		{"0.0.0.0 null MX: nothing", mxOK(MX{0, "0.0.0.0"}), nil},
		{"records in presented order, deduplicated, without literals and invalid names", mxOK(
			MX{20, "b.example.com"}, MX{10, "a.example.com"}, MX{30, "b.example.com"}, MX{0, ""},
			MX{5, "192.0.2.1"}, MX{5, "2001:db8::1"}, MX{5, "bad_name.example.com"}, MX{5, "::1%lo"}, MX{40, "c.example.net"},
		), []string{"b.example.com", "a.example.com", "c.example.net"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Targets("example.com", tc.mx); !slices.Equal(got, tc.want) {
				t.Errorf("Targets = %q, want %q", got, tc.want)
			}
		})
	}
}
