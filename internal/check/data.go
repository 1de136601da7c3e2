package check

import "net/netip"

// Outcome is how one DNS lookup ended, as far as grading cares.
type Outcome uint8

// Outcomes. The zero value is OutcomeUnchecked, so a lookup that Run never
// got to is never mistaken for an answer.
const (
	// OutcomeUnchecked means the lookup was not made (budget, limits).
	OutcomeUnchecked Outcome = iota
	// OutcomeOK means an answer: records, or none (NODATA).
	OutcomeOK
	// OutcomeNXDomain means the name does not exist.
	OutcomeNXDomain
	// OutcomeServFail means the server answered SERVFAIL.
	OutcomeServFail
	// OutcomeTimeout means no answer came in time.
	OutcomeTimeout
	// OutcomeFailed means any other failure (REFUSED, a CNAME loop, an
	// unusable reply, a network error).
	OutcomeFailed
)

// String names the outcome for messages.
func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeNXDomain:
		return "NXDOMAIN"
	case OutcomeServFail:
		return "SERVFAIL"
	case OutcomeTimeout:
		return "timeout"
	case OutcomeFailed:
		return "failed"
	default:
		return "not made"
	}
}

// definitive reports whether the outcome is an answer from DNS (positive or
// negative) rather than the absence of one.
func (o Outcome) definitive() bool { return o == OutcomeOK || o == OutcomeNXDomain }

// Lookup is the outcome of one query plus the error text when it failed.
type Lookup struct {
	// Outcome is how the lookup ended.
	Outcome Outcome
	// Detail is the error text for a failed lookup, for messages only.
	Detail string
}

// Data is everything Run gathered from DNS, as plain values, so that Grade
// is a pure function that tests and the fuzzer can feed directly. Host
// names are lower case without the trailing dot.
type Data struct {
	// Domain is the checked domain.
	Domain string
	// MX is the domain's MX lookup.
	MX MXData
	// Hosts holds one entry per distinct MX target that Run resolved, or,
	// for an implicit MX, one entry for the domain itself. Targets that are
	// IP literals or the null MX root are not resolved and have no entry.
	Hosts []HostData
	// Reverse holds one entry per distinct routable address that Run
	// looked up in reverse. Missing entries count as not checked.
	Reverse []ReverseData
	// Consistency is the comparison of the authoritative servers' MX sets.
	Consistency ConsistencyData
	// STS is the domain's MTA-STS; nil when not checked (Options.STS unset).
	STS *STSData
}

// MXData is the MX lookup of the domain.
type MXData struct {
	// Lookup is how the MX query ended.
	Lookup Lookup
	// Records are the MX records as served.
	Records []MXRecord
	// Authoritative reports that the answer had the AA bit, so its TTLs are
	// the zone's and not a cache's countdown.
	Authoritative bool
}

// MXRecord is one MX record.
type MXRecord struct {
	// Host is the target; "." is the root (a null MX).
	Host string
	// Preference is the MX preference.
	Preference uint16
	// TTL is the record's TTL in seconds.
	TTL uint32
}

// HostData is the address lookup of one MX target.
type HostData struct {
	// Host is the name looked up.
	Host string
	// CNAMEs is the CNAME chain the lookups followed, empty when Host is
	// canonical.
	CNAMEs []string
	// A and AAAA are how the two queries ended.
	A, AAAA Lookup
	// Addresses are the A then AAAA addresses in resolver order.
	Addresses []netip.Addr
	// Secure reports that the A or AAAA answer was DNSSEC-validated.
	Secure bool
	// TLSA is the host's TLSA lookup; nil when not made (Options.DANE
	// unset).
	TLSA *TLSAData
}

// ReverseData is the reverse lookup of one address and the forward lookups
// of its PTR names.
type ReverseData struct {
	// Address is the address looked up.
	Address netip.Addr
	// PTR is how the PTR query ended.
	PTR Lookup
	// Names are the PTR names.
	Names []string
	// Forward holds the lookups of Names, in the address's family.
	Forward []ForwardData
}

// ForwardData is the lookup of one PTR name.
type ForwardData struct {
	// Name is the PTR name looked up.
	Name string
	// Lookup is how the query ended.
	Lookup Lookup
	// Addresses are the addresses it resolved to.
	Addresses []netip.Addr
}

// ConsistencyData is the MX set as each authoritative server sees it.
type ConsistencyData struct {
	// Zone is the zone apex found above the domain, "" if none was found.
	Zone string
	// Lookup is how finding the zone and its NS set ended; anything but
	// OutcomeOK means the comparison could not be made.
	Lookup Lookup
	// Servers holds one entry per address of each NS host, or one entry
	// with an invalid Address for an NS host that did not resolve.
	Servers []ServerData
	// Local is set when the domain is served from mxroute's own zone
	// data: mxroute is its authority and no name server was asked.
	Local bool
}

// ServerData is one authoritative server's answer to the MX query.
type ServerData struct {
	// Host is the NS name.
	Host string
	// Address is the address queried; invalid when Host did not resolve.
	Address netip.Addr
	// Lookup is how the direct query ended. OutcomeOK requires the AA bit.
	Lookup Lookup
	// Records is the MX set it served.
	Records []MXRecord
}
