package routing

import (
	"net/netip"
	"slices"
	"strings"
)

// Targets lists the host names whose addresses the plan for mx needs, in
// the order first seen. MX targets written as addresses and names that are
// not valid host names need no lookup; a null MX needs none at all.
func Targets(domain string, mx MXAnswer) []string {
	if mx.Status != StatusOK {
		return nil
	}
	if len(mx.Records) == 0 {
		return []string{domain}
	}
	if isNullMX(mx.Records) {
		return nil
	}
	var out []string
	for _, r := range mx.Records {
		if !needsLookup(r.Host) || slices.Contains(out, r.Host) {
			continue
		}
		out = append(out, r.Host)
	}
	return out
}

// needsLookup reports whether Build will look for host in Input.Hosts.
func needsLookup(host string) bool {
	if _, ok := ipLiteral(host); ok {
		return false
	}
	return host != "" && checkHostname(host) == nil
}

// ipLiteral parses an MX target written as an address. An address with a
// zone is not one: no DNS name legitimately carries one, and a zone makes
// netip.Prefix.Contains false, so "::1%lo" would dodge the ignore list.
func ipLiteral(host string) (netip.Addr, bool) {
	// Host names are far more common than literals, and a failed ParseAddr
	// allocates its error: look for the shape of a literal first. A literal
	// has a colon (IPv6) or only digits and dots (IPv4); a name has neither.
	if !strings.Contains(host, ":") && strings.ContainsFunc(host, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// isNullMX reports a null MX: MX records that all name the root (RFC 7505
// allows exactly one, but two say no more than one does), or a single MX
// to the unspecified address, which some domains publish meaning the same
// and which could never be dialled anyway.
func isNullMX(rs []MX) bool {
	if len(rs) == 1 {
		if a, ok := ipLiteral(rs[0].Host); ok && a.IsUnspecified() {
			return true
		}
	}
	for _, r := range rs {
		if r.Host != "" {
			return false
		}
	}
	return len(rs) > 0
}
