package routing

import (
	"net/netip"
)

// DefaultIgnoreNetworks lists the networks no plan ever dials: unspecified,
// "this network", loopback, link-local, multicast, the reserved class E range
// (which holds the limited broadcast address), and their IPv6 counterparts.
// Addresses are checked after unmapping IPv4-mapped and NAT64 (64:ff9b::/96)
// forms, so ::ffff:127.0.0.1 is loopback too.
var DefaultIgnoreNetworks = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fec0::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// PrivateNetworks are the RFC 1918, shared (RFC 6598) and unique local (RFC
// 4193) ranges: right for internal mail, wrong for a public domain. Plans
// include them unless Options.BlockPrivate is set.
var PrivateNetworks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// embedded returns the IPv4 address an IPv6 address stands for (IPv4-mapped
// or NAT64 well-known prefix), or the address itself.
func embedded(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	return a
}

// inAny reports whether a, or the IPv4 address it embeds, is in one of nets.
func inAny(a netip.Addr, nets []netip.Prefix) bool {
	e := embedded(a)
	for _, p := range nets {
		if p.Contains(a) || e != a && p.Contains(e) {
			return true
		}
	}
	return false
}

// familyOf names the family of an address in the form plans use (IPv4-mapped
// addresses already unmapped), consistent with Family.Wants.
func familyOf(a netip.Addr) Family {
	if a.Is4() {
		return FamilyIPv4
	}
	return FamilyIPv6
}

// NeverDial reports whether a is in DefaultIgnoreNetworks, judging
// IPv4-mapped and NAT64 forms by the IPv4 address they carry, or has a zone
// (a zoned address names a local interface). The layout check grades with
// the same list the planner skips by default.
func NeverDial(a netip.Addr) bool {
	return !a.IsValid() || a.Zone() != "" || inAny(a, DefaultIgnoreNetworks)
}

// IsPrivate reports whether a is in PrivateNetworks, judged the same way.
func IsPrivate(a netip.Addr) bool { return inAny(a, PrivateNetworks) }

// NeverDials reports whether no plan built with o can contain a: it has a
// zone, is in o.IgnoreNetworks (IPv4-mapped and NAT64 forms judged by the
// IPv4 address they carry), or is private while o.BlockPrivate is set.
// Whatever asks whether an address is worth keeping health for (a drain, a
// report) asks this, so it agrees with the planner's filter.
func (o *Options) NeverDials(a netip.Addr) bool {
	return !a.IsValid() || a.Zone() != "" || inAny(a, o.IgnoreNetworks) || o.BlockPrivate && inAny(a, PrivateNetworks)
}
