package check

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/mxroute/mxroute/internal/routing"
)

// normHost is routing.HostName, the one owner of a host name's form, with
// the root shown as "." in reports.
func normHost(s string) string {
	if h := routing.HostName(s); h != "" {
		return h
	}
	return "."
}

// isIPLiteral reports whether an MX target is an address rather than a
// name, with or without the brackets of an address literal.
func isIPLiteral(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	host = strings.TrimPrefix(host, "ipv6:")
	_, err := netip.ParseAddr(host)
	return err == nil
}

// describe renders a lookup's outcome for a message.
func describe(l Lookup) string {
	if l.Detail == "" || l.Outcome == OutcomeNXDomain {
		return l.Outcome.String()
	}
	return l.Outcome.String() + ": " + l.Detail
}

// hostFailure says why a target has no address.
func hostFailure(h HostData, looked bool) string {
	switch {
	case !looked:
		return "not checked"
	case h.A.Outcome == OutcomeNXDomain && h.AAAA.Outcome == OutcomeNXDomain:
		return "NXDOMAIN"
	case !h.A.Outcome.definitive():
		return "A lookup " + describe(h.A)
	case !h.AAAA.Outcome.definitive():
		return "AAAA lookup " + describe(h.AAAA)
	default:
		return "no A or AAAA records"
	}
}

// appendNew appends v unless s already holds it.
func appendNew[T comparable](s []T, v T) []T {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func uniqueStrings(s []string) []string {
	var out []string
	for _, v := range s {
		out = appendNew(out, v)
	}
	return out
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// addrStrings renders addresses; never nil, so it encodes as [].
func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func disjoint(a, b []netip.Addr) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func plural(one bool, singular, many string) string {
	if one {
		return singular
	}
	return many
}

// fqdn adds the trailing dot zone files want.
func fqdn(name string) string {
	if name == "." {
		return name
	}
	return name + "."
}

// joinLines indents zone-file lines under a sentence.
func joinLines(head string, lines ...string) string {
	return fmt.Sprintf("%s\n  %s", head, strings.Join(lines, "\n  "))
}
