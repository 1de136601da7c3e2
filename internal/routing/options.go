package routing

import (
	"net/netip"
	"slices"
)

// AddressOrder says how a host's addresses are ordered in a plan.
type AddressOrder string

// The address orders an operator can choose.
const (
	// OrderPresented keeps the resolver's order (RFC 5321 MUST). Default.
	OrderPresented AddressOrder = "presented"
	// OrderRandom shuffles each host's addresses, for operators who want
	// load spread across one name's addresses and know their resolver
	// does not rotate them.
	OrderRandom AddressOrder = "random"
)

// Options shapes a plan. The zero value is usable: no attempt limit, any
// family, presented order, MX-to-IP disallowed and no ignored networks, so
// callers normally start from DefaultOptions.
type Options struct {
	// MaxAttempts bounds the number of addresses in the plan after
	// de-duplication; 0 means no bound. The service default is 10.
	MaxAttempts int
	// Family restricts addresses to one family. Default any.
	Family Family
	// AddressOrder of each host's addresses. Default presented.
	AddressOrder AddressOrder
	// AllowMXToIP uses an MX target written as an address ("MX 10
	// 192.0.2.1.") as that address with a warning, as Postfix does; false
	// skips it, as Exim does. Default true.
	AllowMXToIP bool
	// IgnoreNetworks are never dialled. Default DefaultIgnoreNetworks.
	IgnoreNetworks []netip.Prefix
	// BlockPrivate also skips PrivateNetworks. Default false: internal mail
	// routinely uses private addresses.
	BlockPrivate bool
	// LocalNames are this mail system's own host names (lower case, no
	// trailing dot), for the RFC 5321 5.1 self-loop rule.
	LocalNames map[string]bool
	// LocalAddrs are this mail system's own addresses, for the same rule.
	LocalAddrs map[netip.Addr]bool
	// IntN returns a uniform random integer in [0, n); the shuffles use it.
	// Nil uses math/rand/v2, which is safe for concurrent use. Tests pass a
	// seeded source.
	IntN func(n int) int
}

// DefaultOptions returns the options the service starts from. Its
// IgnoreNetworks is a copy, so changing it leaves DefaultIgnoreNetworks alone.
func DefaultOptions() Options {
	return Options{
		MaxAttempts:    10,
		Family:         FamilyAny,
		AddressOrder:   OrderPresented,
		AllowMXToIP:    true,
		IgnoreNetworks: slices.Clone(DefaultIgnoreNetworks),
	}
}
