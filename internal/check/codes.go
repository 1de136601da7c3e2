package check

// Finding codes. Each has one fixed level, except MX_UNROUTABLE_ADDRESS,
// which is an error when every address is unroutable and a warning when
// only some are, and MTA_STS_MX_MISMATCH (see mtasts.go). The order of this list is the order findings of one level
// appear in a report and the order in which the recommendation picks the
// worst one.
const (
	// CodeMXLookupFailed (error): the MX query got NXDOMAIN, SERVFAIL, a
	// timeout or another failure.
	CodeMXLookupFailed = "MX_LOOKUP_FAILED"
	// CodeNullMXWithOthers (error): a null MX next to other MX records,
	// which RFC 7505 section 3 says MUST NOT be published.
	CodeNullMXWithOthers = "NULL_MX_WITH_OTHERS"
	// CodeMXTargetIsIP (error): an MX target is an IP address, which RFC
	// 5321 section 5.1 forbids (the target MUST be a domain name).
	CodeMXTargetIsIP = "MX_TARGET_IS_IP"
	// CodeNoUsableMX (error): no MX target (or, without MX records, the
	// domain itself) resolves to any address.
	CodeNoUsableMX = "NO_USABLE_MX"
	// CodeUnroutableAddress (error when every address is, else warning):
	// an MX target resolves to an address no sender may dial.
	CodeUnroutableAddress = "MX_UNROUTABLE_ADDRESS"
	// CodeMXInconsistent (warning): the zone's authoritative servers serve
	// different MX sets.
	CodeMXInconsistent = "MX_INCONSISTENT"
	// CodeTargetUnresolvable (warning): some MX targets have no address.
	CodeTargetUnresolvable = "MX_TARGET_UNRESOLVABLE"
	// CodeSingleAddress (warning): one usable address in all: no failover.
	CodeSingleAddress = "SINGLE_ADDRESS"
	// CodeTargetCNAME (warning): an MX target is an alias, which RFC 2181
	// section 10.3 forbids.
	CodeTargetCNAME = "MX_TARGET_CNAME"
	// CodeDuplicateAddress (notice): one address behind several MX names
	// or preferences; retrying it adds no failover.
	CodeDuplicateAddress = "DUPLICATE_ADDRESS"
	// CodeSamePrefix (notice): several addresses, all in one /24 or /48,
	// so one network outage takes every one of them down.
	CodeSamePrefix = "SAME_PREFIX"
	// CodePrivateAddress (notice): an address is RFC 1918, RFC 6598 or
	// IPv6 unique local, unreachable from the Internet.
	CodePrivateAddress = "MX_PRIVATE_ADDRESS"
	// CodeNoMXImplicit (notice): no MX records, so mail goes to the
	// domain's own A/AAAA addresses (RFC 5321 section 5.1).
	CodeNoMXImplicit = "NO_MX_IMPLICIT"
	// CodeFCrDNSFail (notice): an address's PTR names do not resolve back
	// to it, which many receivers hold against the sender side of a host.
	CodeFCrDNSFail = "FCRDNS_FAIL"
	// CodePTRMissing (notice): an address has no PTR record.
	CodePTRMissing = "PTR_MISSING"
	// CodeTTLLow (notice): the MX TTL is below TTLLow.
	CodeTTLLow = "MX_TTL_LOW"
	// CodeTTLHigh (notice): the MX TTL is above TTLHigh.
	CodeTTLHigh = "MX_TTL_HIGH"
	// CodeNullMXNonzeroPref (notice): a null MX whose preference is not 0,
	// which RFC 7505 section 3 says it SHOULD be.
	CodeNullMXNonzeroPref = "NULL_MX_NONZERO_PREF"
	// CodeNullMX (info): a valid null MX: the domain accepts no mail.
	CodeNullMX = "NULL_MX"
	// CodePTRUnchecked (info): reverse DNS or its forward confirmation
	// could not be checked (failure or time budget).
	CodePTRUnchecked = "PTR_UNCHECKED"
	// CodeConsistencyUnchecked (info): some or all authoritative servers
	// could not be asked, or could not be found.
	CodeConsistencyUnchecked = "CONSISTENCY_UNCHECKED"
)

// TTL bounds for MX_TTL_LOW and MX_TTL_HIGH, in seconds. Below an hour an
// MX set is re-fetched so often that a DNS outage soon stops mail; above a
// week a mistake lingers in caches for longer than senders keep retrying.
const (
	TTLLow  = 3600
	TTLHigh = 604800
)

// codeOrder ranks codes within a level, worst first. It is a fixed table,
// never written, not state.
var codeOrder = map[string]int{
	CodeMXLookupFailed:       0,
	CodeNullMXWithOthers:     1,
	CodeMXTargetIsIP:         2,
	CodeNoUsableMX:           3,
	CodeUnroutableAddress:    4,
	CodeMXInconsistent:       5,
	CodeTargetUnresolvable:   6,
	CodeSingleAddress:        7,
	CodeTargetCNAME:          8,
	CodeDuplicateAddress:     9,
	CodeSamePrefix:           10,
	CodePrivateAddress:       11,
	CodeNoMXImplicit:         12,
	CodeFCrDNSFail:           13,
	CodePTRMissing:           14,
	CodeTTLLow:               15,
	CodeTTLHigh:              16,
	CodeNullMXNonzeroPref:    17,
	CodeNullMX:               18,
	CodePTRUnchecked:         19,
	CodeConsistencyUnchecked: 20,
	CodeSTSPolicyUnfetchable: 21,
	CodeSTSMXMismatch:        22,
	CodeSTSTXTInvalid:        23,
	CodeSTSMaxAgeShort:       24,
	CodeSTSMissing:           25,
	CodeSTSUnchecked:         26,
	CodeDANELookupFailed:     27,
	CodeDANEUnvalidated:      28,
}
