package check

import (
	"net/netip"

	"github.com/mxroute/mxroute/internal/routing"
)

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
	// classUnroutable must never be dialled: routing.DefaultIgnoreNetworks
	// (unspecified and "this network", loopback, link-local, multicast,
	// reserved including broadcast, and their IPv6, IPv4-mapped and NAT64
	// forms). Documentation ranges (192.0.2/24 and the like) are left
	// public on purpose: they are what examples and tests use.
	classUnroutable
)

// classify returns the class of a with the planner's own lists
// (routing.DefaultIgnoreNetworks, routing.PrivateNetworks), so a check never
// calls routable what a plan would skip.
func classify(a netip.Addr) addrClass {
	switch {
	case routing.NeverDial(a):
		return classUnroutable
	case routing.IsPrivate(a):
		return classPrivate
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
