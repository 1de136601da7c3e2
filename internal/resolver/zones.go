package resolver

import (
	"fmt"
	"io"
	"os"

	"github.com/miekg/dns"
)

// Zones holds local zones parsed from RFC 1035 master files, answered
// authoritatively by Lookup in place of the upstream servers. A zone is
// rooted at an SOA record; every other record must lie at or below one.
// Wildcards, DNAME and delegation are not interpreted: NS records are data
// like any other. A Zones is read-only once built and safe to share.
type Zones struct {
	zones map[string]*zone // by apex, lower case and fully qualified
}

// zone is one apex's data.
type zone struct {
	apex string
	soa  *dns.SOA
	// rrs holds each owner's records in file order.
	rrs map[string][]dns.RR
	// exists holds every owner and every name between an owner and the
	// apex, so that an empty non-terminal is NODATA, not NXDOMAIN.
	exists map[string]bool
}

// LoadZones parses master files and merges their zones. Parse errors name
// the file and line.
func LoadZones(files ...string) (*Zones, error) {
	all := make([]*Zones, 0, len(files))
	for _, f := range files {
		z, err := loadZoneFile(f)
		if err != nil {
			return nil, err
		}
		all = append(all, z)
	}
	return MergeZones(all...)
}

func loadZoneFile(path string) (*Zones, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load zones: %w", err)
	}
	defer f.Close()
	return ParseZones(path, f)
}

// ParseZones parses master file text from r, such as embedded data. file
// names the source in errors. Owner names must be absolute or follow an
// $ORIGIN; $INCLUDE is refused. The text may hold several zones, each
// rooted at its SOA record.
func ParseZones(file string, r io.Reader) (*Zones, error) {
	zp := dns.NewZoneParser(r, "", file)
	var soas []*dns.SOA
	var others []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rr.Header().Name = dns.CanonicalName(rr.Header().Name)
		if soa, isSOA := rr.(*dns.SOA); isSOA {
			soas = append(soas, soa)
		} else {
			others = append(others, rr)
		}
	}
	if err := zp.Err(); err != nil {
		// A *dns.ParseError's text already names the file and line.
		return nil, fmt.Errorf("parse zones: %w", err)
	}

	zs := &Zones{zones: make(map[string]*zone, len(soas))}
	for _, soa := range soas {
		if _, dup := zs.zones[soa.Hdr.Name]; dup {
			return nil, fmt.Errorf("parse zones: %s: second SOA for zone %s", file, soa.Hdr.Name)
		}
		zs.zones[soa.Hdr.Name] = &zone{
			apex:   soa.Hdr.Name,
			soa:    soa,
			rrs:    map[string][]dns.RR{soa.Hdr.Name: {soa}},
			exists: map[string]bool{soa.Hdr.Name: true},
		}
	}
	for _, rr := range others {
		z := zs.find(rr.Header().Name)
		if z == nil {
			return nil, fmt.Errorf("parse zones: %s: %s record for %s is in no zone (no SOA at or above it)",
				file, dns.Type(rr.Header().Rrtype), rr.Header().Name)
		}
		z.add(rr)
	}
	return zs, nil
}

// MergeZones combines zone sets; the same apex in two of them is an error,
// since which one should win is a question only their author can answer.
func MergeZones(sets ...*Zones) (*Zones, error) {
	out := &Zones{zones: make(map[string]*zone)}
	for _, zs := range sets {
		if zs == nil {
			continue
		}
		for apex, z := range zs.zones {
			if _, dup := out.zones[apex]; dup {
				return nil, fmt.Errorf("merge zones: zone %s defined twice", apex)
			}
			out.zones[apex] = z
		}
	}
	return out, nil
}

// Apexes returns the apex of every zone held, in no particular order; nil
// for a nil Zones.
func (zs *Zones) Apexes() []string {
	if zs == nil {
		return nil
	}
	out := make([]string, 0, len(zs.zones))
	for apex := range zs.zones {
		out = append(out, apex)
	}
	return out
}

// Contains reports whether name (any case, with or without trailing dot)
// is at or below one of the apexes, and so is answered locally.
func (zs *Zones) Contains(name string) bool {
	return zs != nil && zs.find(dns.CanonicalName(name)) != nil
}

// find returns the zone with the longest apex at or above name, which must
// be canonical.
func (zs *Zones) find(name string) *zone {
	if len(zs.zones) == 0 {
		return nil
	}
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if z, ok := zs.zones[name[off:]]; ok {
			return z
		}
	}
	return zs.zones["."]
}

func (z *zone) add(rr dns.RR) {
	name := rr.Header().Name
	z.rrs[name] = append(z.rrs[name], rr)
	for n := name; !z.exists[n]; {
		z.exists[n] = true
		off, end := dns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[off:]
	}
}

// answer builds the reply an authoritative server for the local data would
// give for one name, without following a CNAME (Lookup follows it, here or
// upstream). ok is false when no zone holds name, which must be canonical.
func (zs *Zones) answer(name string, qtype uint16) (r *dns.Msg, ok bool) {
	z := zs.find(name)
	if z == nil {
		return nil, false
	}
	r = new(dns.Msg)
	r.SetQuestion(name, qtype)
	r.Response, r.Authoritative = true, true
	rrs := z.rrs[name]
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype {
			r.Answer = append(r.Answer, dns.Copy(rr))
		}
	}
	if len(r.Answer) == 0 && qtype != dns.TypeCNAME {
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeCNAME {
				r.Answer = append(r.Answer, dns.Copy(rr))
				return r, true
			}
		}
	}
	if len(r.Answer) == 0 {
		if !z.exists[name] {
			r.Rcode = dns.RcodeNameError
		}
		r.Ns = []dns.RR{dns.Copy(z.soa)}
	}
	return r, true
}
