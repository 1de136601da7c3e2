package resolver

import (
	"net/netip"
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
	// order), owned by the last name of the CNAME chain. Compact drops
	// them for MX, A and AAAA, whose data MX and Addrs then carry.
	Records []dns.RR
	// MX holds the MX records' data, in Records' order, for Qtype MX.
	MX []MX
	// Addrs holds the addresses, in Records' order, for Qtype A or AAAA.
	Addrs []netip.Addr
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
	// Secure reports that the answer is DNSSEC-validated: every reply of
	// the lookup (each hop of a CNAME chain) came from an upstream with
	// the AD bit set, and Config.Validating says the upstreams validate
	// and the path to them is trusted. Always false without Validating,
	// and for local zone data, which is not signed. DANE (RFC 7672)
	// uses TLSA records only when this is set.
	Secure bool
}

// MX is the data of one MX record.
type MX struct {
	Preference uint16
	// Host is the exchange as the record gives it, fully qualified.
	Host string
}

// NXDomain reports whether the name does not exist.
func (a Answer) NXDomain() bool { return a.Rcode == dns.RcodeNameError }

// NoData reports whether the name exists but has no records of the type.
func (a Answer) NoData() bool {
	return a.Rcode == dns.RcodeSuccess && len(a.Records) == 0 && len(a.MX) == 0 && len(a.Addrs) == 0
}

// Compact returns a with the data of MX, A and AAAA records in MX and
// Addrs and without Records: a few bytes a record instead of a dns.RR
// each (a header, an owner name and a pointer per record), which is what
// lets a cache hold many answers. Other types keep their Records.
func (a Answer) Compact() Answer {
	switch a.Qtype {
	case dns.TypeMX:
		if a.MX == nil && len(a.Records) > 0 {
			a.MX = make([]MX, 0, len(a.Records))
			for _, rr := range a.Records {
				if mx, ok := rr.(*dns.MX); ok {
					a.MX = append(a.MX, MX{Preference: mx.Preference, Host: mx.Mx})
				}
			}
		}
	case dns.TypeA, dns.TypeAAAA:
		if a.Addrs == nil && len(a.Records) > 0 {
			a.Addrs = make([]netip.Addr, 0, len(a.Records))
			for _, rr := range a.Records {
				if ip, ok := addrOf(rr); ok {
					a.Addrs = append(a.Addrs, ip)
				}
			}
		}
	default:
		return a
	}
	a.Records = nil
	return a
}

func addrOf(rr dns.RR) (netip.Addr, bool) {
	switch r := rr.(type) {
	case *dns.A:
		return netip.AddrFromSlice(r.A.To4())
	case *dns.AAAA:
		return netip.AddrFromSlice(r.AAAA.To16())
	}
	return netip.Addr{}, false
}
