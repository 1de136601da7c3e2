package routing

import (
	"net/netip"
	"slices"
	"testing"
)

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
		name: "a disallowed IP-literal MX that is our own address still counts",
		in:   dom(mxOK(MX{10, "a.example.com"}, MX{20, "192.0.2.20"}, MX{30, "c.example.com"}), hosts),
		opts: func(o *Options) { byAddr(o); o.AllowMXToIP = false },
		disp: Deliver, reason: ReasonOK,
		attempts: []string{"a.example.com/10/192.0.2.1"},
		skipped:  []string{"192.0.2.20/20/-/mx_to_ip_disallowed", "c.example.com/30/-/self_loop"},
		warnings: []string{"mx_target_is_ip/192.0.2.20"},
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
