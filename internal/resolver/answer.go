package resolver

import (
	"time"

	"github.com/miekg/dns"
)

// Answer is the outcome of one lookup of a name and type, after any CNAME
// chain has been followed. It is the unit the DNS cache stores, so it holds
// only values (no connections, no pointers into a live message) and can be
// shared between goroutines once built.
type Answer struct {
	// Name is the queried name, fully qualified and lower case.
	Name string
	// Qtype is the queried type (dns.TypeMX, dns.TypeA, dns.TypeAAAA, ...).
	Qtype uint16
	// Rcode is the final response code: dns.RcodeSuccess (with or without
	// records: an empty Records with RcodeSuccess is NODATA) or
	// dns.RcodeNameError (NXDOMAIN). SERVFAIL, REFUSED and timeouts are
	// returned as errors, never as an Answer, so a cache never mistakes a
	// failure for a negative answer.
	Rcode int
	// Records holds the answer records of type Qtype in the order the
	// server presented them (RFC 5321 requires addresses be tried in that
	// order), owned by the last name of the CNAME chain.
	Records []dns.RR
	// CNAMEs lists the names the chain passed through, in order, excluding
	// Name itself; empty when Name had no CNAME.
	CNAMEs []string
	// TTL is how long the answer may be cached: the smallest TTL of the
	// records used (CNAMEs included), or for a negative answer the SOA
	// minimum per RFC 2308 section 5.
	TTL time.Duration
	// Server is the upstream that answered ("zone" for a local zone file).
	Server string
	// Authoritative reports the AA bit of the final response.
	Authoritative bool
}

// NXDomain reports whether the name does not exist.
func (a Answer) NXDomain() bool { return a.Rcode == dns.RcodeNameError }

// NoData reports whether the name exists but has no records of the type.
func (a Answer) NoData() bool { return a.Rcode == dns.RcodeSuccess && len(a.Records) == 0 }
