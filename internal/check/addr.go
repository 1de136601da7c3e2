package check

import "net/netip"

// addrClass sorts an address by whether a sender can reach it.
type addrClass uint8

const (
	// classPublic is any address not below.
	classPublic addrClass = iota
	// classPrivate is reachable only inside some network: RFC 1918
	// (10/8, 172.16/12, 192.168/16), RFC 6598 shared address space
	// (100.64/10, carrier-grade NAT) and IPv6 unique local (fc00::/7).
	// A sender inside that network can use it, so it only earns a notice.
	classPrivate
	// classUnroutable must never be dialled: unspecified and "this network"
	// (0.0.0.0/8, ::), loopback (127/8, ::1), link-local (169.254/16,
	// fe80::/10), multicast (224/4, ff00::/8) and reserved (240/4, which
	// includes broadcast 255.255.255.255), and the IPv4-mapped forms of the
	// IPv4 ones. Documentation ranges (192.0.2/24 and the like) are left
	// public on purpose: they are what examples and tests use.
	classUnroutable
)

// Prefix tables; fixed values, never written.
var (
	unroutablePrefixes = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("224.0.0.0/4"),
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("::/128"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("ff00::/8"),
	}
	privatePrefixes = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("fc00::/7"),
	}
)

// classify returns the class of a, judging IPv4-mapped IPv6 by its IPv4.
// An invalid address is unroutable.
func classify(a netip.Addr) addrClass {
	if !a.IsValid() {
		return classUnroutable
	}
	a = a.Unmap()
	for _, p := range unroutablePrefixes {
		if p.Contains(a) {
			return classUnroutable
		}
	}
	for _, p := range privatePrefixes {
		if p.Contains(a) {
			return classPrivate
		}
	}
	return classPublic
}

// Prefix lengths that stand for "one network" in failover: a /24 is the
// smallest IPv4 block routed on the Internet, a /48 the usual IPv6 site.
const (
	ipv4SiteBits = 24
	ipv6SiteBits = 48
)

// sitePrefix returns the network a belongs to for failover purposes.
func sitePrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := ipv6SiteBits
	if a.Is4() {
		bits = ipv4SiteBits
	}
	p, err := a.Prefix(bits)
	if err != nil {
		// Only an invalid address gets here, and callers pass valid ones.
		return netip.Prefix{}
	}
	return p
}

// sitePrefixName describes the prefix size used for a's family.
func sitePrefixName(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "/24"
	}
	return "/48"
}
