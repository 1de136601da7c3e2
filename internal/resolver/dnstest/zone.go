package dnstest

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// implicitRootSOA roots the names that the test's text puts under no SOA.
const implicitRootSOA = ". 60 IN SOA ns.dnstest. hostmaster.dnstest. 1 3600 600 86400 60"

// zoneData is the parsed text: every zone by apex, records by owner in
// text order, and the set of names that exist (owners and the empty
// non-terminals above them).
type zoneData struct {
	soas   map[string]*dns.SOA
	rrs    map[string][]dns.RR
	exists map[string]bool
}

func parseZone(text string) (*zoneData, error) {
	zd := &zoneData{soas: map[string]*dns.SOA{}, rrs: map[string][]dns.RR{}, exists: map[string]bool{}}
	zp := dns.NewZoneParser(strings.NewReader(text), "", "dnstest zone")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		h.Name = dns.CanonicalName(h.Name)
		if soa, isSOA := rr.(*dns.SOA); isSOA {
			zd.soas[h.Name] = soa
		}
		zd.rrs[h.Name] = append(zd.rrs[h.Name], rr)
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	if _, ok := zd.soas["."]; !ok {
		rr, err := dns.NewRR(implicitRootSOA)
		if err != nil {
			return nil, fmt.Errorf("implicit root SOA: %w", err)
		}
		zd.soas["."] = rr.(*dns.SOA)
	}
	for owner := range zd.rrs {
		for n := owner; ; {
			zd.exists[n] = true
			off, end := dns.NextLabel(n, 0)
			if end {
				break
			}
			n = n[off:]
		}
	}
	zd.exists["."] = true
	return zd, nil
}

// apexOf returns the closest apex at or above name.
func (zd *zoneData) apexOf(name string) string {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if _, ok := zd.soas[name[off:]]; ok {
			return name[off:]
		}
	}
	return "."
}

// reply answers req from the data, as described in the package comment.
func (zd *zoneData) reply(req *dns.Msg) *dns.Msg {
	q := req.Question[0]
	r := new(dns.Msg)
	r.SetReply(req)
	r.Authoritative = true

	name := dns.CanonicalName(q.Name)
	apex := zd.apexOf(name)
	visited := map[string]bool{}
	for {
		visited[name] = true
		var cname dns.RR
		for _, rr := range zd.rrs[name] {
			switch rr.Header().Rrtype {
			case q.Qtype:
				r.Answer = append(r.Answer, rr)
			case dns.TypeCNAME:
				if cname == nil {
					cname = rr
				}
			}
		}
		if len(r.Answer) > 0 && r.Answer[len(r.Answer)-1].Header().Rrtype == q.Qtype {
			return r
		}
		if cname == nil || q.Qtype == dns.TypeCNAME {
			// No data for name, the chain's last name.
			if !zd.exists[name] {
				r.Rcode = dns.RcodeNameError
			}
			r.Ns = append(r.Ns, zd.soas[apex])
			return r
		}
		r.Answer = append(r.Answer, cname)
		name = dns.CanonicalName(cname.(*dns.CNAME).Target)
		if zd.apexOf(name) != apex || visited[name] {
			// Another zone, for the client to ask about; or a loop in the
			// test's data, for the client to detect.
			return r
		}
	}
}
