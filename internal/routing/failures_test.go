package routing

import "testing"

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
