package routing

import (
	"net/netip"
	"strings"
	"time"
)

// Status is the outcome class of one DNS lookup, as the planner needs it.
type Status int

const (
	// StatusOK is an answer from DNS: with records, or NODATA without.
	StatusOK Status = iota
	// StatusNXDomain is an authoritative statement that the name does not exist.
	StatusNXDomain
	// StatusTempFail covers SERVFAIL, REFUSED, timeouts and network errors:
	// nothing is known, so nothing may be concluded permanently.
	StatusTempFail
)

// MX is one MX record as DNS presented it.
type MX struct {
	// Preference is the record's preference; lower is more preferred.
	Preference uint16
	// Host is the exchange name, lower case, without the trailing dot; "" for
	// the root (".") of a null MX.
	Host string
}

// MXAnswer is the outcome of the MX query for the domain.
type MXAnswer struct {
	// Status tells whether Records (possibly empty: NODATA) can be trusted.
	Status Status
	// Records in the order DNS presented them.
	Records []MX
	// TTL of the records, or the negative TTL for NXDOMAIN and NODATA.
	TTL time.Duration
	// Stale is set when the answer was served past its TTL because every
	// upstream failed (RFC 8767).
	Stale bool
}

// AddrAnswer is the outcome of one address query (A or AAAA) for a host.
type AddrAnswer struct {
	// Status of the lookup.
	Status Status
	// Addrs in the order the resolver presented them.
	Addrs []netip.Addr
	// CNAMEs the lookup followed; non-empty means the MX target is an alias,
	// which RFC 2181 10.3 forbids but senders tolerate.
	CNAMEs []string
	// TTL of the records (CNAMEs included), or the negative TTL.
	TTL time.Duration
	// Stale is set when the answer was served past its TTL.
	Stale bool
	// Secure is set when a resolver trusted to validate set the AD bit:
	// the host's zone is DNSSEC-signed.
	Secure bool
}

// HostAnswers holds the address lookups of one host.
type HostAnswers struct {
	// V4 is the A lookup; zero (StatusOK, no records) when not made.
	V4 AddrAnswer
	// V6 is the AAAA lookup; zero when not made.
	V6 AddrAnswer
	// TLSA is the lookup of _25._tcp.<host>; zero when DANE is off.
	TLSA TLSAAnswer
}

// Input is all the DNS data a plan is built from. Build it with Targets: the
// planner asks for the address lookups it needs and nothing more.
type Input struct {
	// Domain is the normalised recipient domain (see NormalizeDomain).
	Domain string
	// MX is the domain's MX lookup.
	MX MXAnswer
	// Hosts maps a host name (lower case, no trailing dot) to its address
	// lookups. For an implicit MX the domain itself is the key.
	Hosts map[string]HostAnswers
	// STS is the domain's MTA-STS policy lookup; zero: no policy.
	STS STSInput
}

// State is an address's health as the fleet sees it. The planner owns the
// type because it is what plans are ordered by; package feedback, which
// decides when an address moves between states, uses it under the same
// name (feedback.State is an alias), so the two never need a conversion.
type State string

// The states an address can be in; see package feedback for how they change.
const (
	StateHealthy State = "healthy"
	StateDemoted State = "demoted"
	StateDrained State = "drained"
)

// HostName turns a name from DNS (an MX exchange, a CNAME target) into
// the form the planner keys hosts by: lower case, no trailing dot, "" for
// the root (a null MX).
func HostName(fqdn string) string {
	return strings.TrimSuffix(strings.ToLower(fqdn), ".")
}

// Health reports the fleet's view of an address. It must be cheap: the
// planner calls it once per address in the plan on every request (after
// the attempt limit, so at most MaxAttempts times).
type Health func(netip.Addr) State

// Family selects the address families a plan may contain.
type Family string

// The families a sender may ask for.
const (
	FamilyAny  Family = "any"
	FamilyIPv4 Family = "ipv4"
	FamilyIPv6 Family = "ipv6"
)

// Wants reports whether the family includes addr.
func (f Family) Wants(addr netip.Addr) bool {
	switch f {
	case FamilyIPv4:
		return addr.Unmap().Is4()
	case FamilyIPv6:
		return !addr.Unmap().Is4()
	default:
		return true
	}
}

// Lookups reports which address queries a plan for this family needs.
func (f Family) Lookups() (v4, v6 bool) {
	return f != FamilyIPv6, f != FamilyIPv4
}
