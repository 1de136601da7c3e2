package check

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// exchangeUDPSize is the EDNS0 buffer advertised in direct queries, the DNS
// Flag Day 2020 value; larger replies come over TCP.
const exchangeUDPSize = 1232

// consistency finds the zone that holds name's MX set and asks each of its
// authoritative servers directly, so that a server serving an old or a
// different zone shows up even when the resolver happens to ask another.
func (g *gatherer) consistency(ctx context.Context, name string) ConsistencyData {
	if g.opts.Local(name) {
		return ConsistencyData{Zone: name, Lookup: Lookup{Outcome: OutcomeOK}, Local: true}
	}
	zone, nsHosts, lk := g.findZone(ctx, name)
	c := ConsistencyData{Zone: zone, Lookup: lk}
	if lk.Outcome != OutcomeOK {
		return c
	}

	// Resolve the NS hosts, then ask every address, in parallel each.
	hosts := g.resolveHosts(ctx, nsHosts)
	for _, h := range hosts {
		if len(h.Addresses) == 0 {
			fail := Lookup{Outcome: OutcomeFailed, Detail: "name server has no address (" + hostFailure(h, true) + ")"}
			if !h.A.Outcome.definitive() {
				fail = h.A
			}
			c.Servers = append(c.Servers, ServerData{Host: h.Host, Lookup: fail})
			continue
		}
		for _, a := range h.Addresses {
			if len(c.Servers) >= maxNSServers {
				break
			}
			s := ServerData{Host: h.Host, Address: a}
			if g.opts.NeverDial(a) {
				s.Lookup = Lookup{Outcome: OutcomeUnchecked, Detail: "an address no plan dials, so it was not asked"}
			}
			c.Servers = append(c.Servers, s)
		}
	}
	var wg sync.WaitGroup
	for i := range c.Servers {
		if !c.Servers[i].Address.IsValid() || c.Servers[i].Lookup != (Lookup{}) {
			continue
		}
		wg.Go(func() { g.askServer(ctx, name, &c.Servers[i]) })
	}
	wg.Wait()
	return c
}

// findZone walks up from name to the closest name that has NS records: the
// apex of the zone holding name. It stops below the top-level domain, whose
// servers would only refer the question back down.
func (g *gatherer) findZone(ctx context.Context, name string) (string, []string, Lookup) {
	for z := name; strings.Contains(z, "."); z = z[strings.Index(z, ".")+1:] {
		ans, err := g.q.lookup(ctx, z, dns.TypeNS)
		if err != nil {
			return "", nil, outcome(ans, err)
		}
		if len(ans.CNAMEs) > 0 {
			// An alias is never a zone apex; its target's NS set says
			// nothing about the zone above z.
			continue
		}
		var hosts []string
		for _, rr := range ans.Records {
			if ns, ok := rr.(*dns.NS); ok {
				hosts = appendNew(hosts, normHost(ns.Ns))
			}
		}
		if len(hosts) > 0 {
			slices.Sort(hosts)
			return z, hosts, Lookup{Outcome: OutcomeOK}
		}
	}
	return "", nil, Lookup{Outcome: OutcomeFailed, Detail: "no zone cut found below the top-level domain"}
}

// askServer sends the MX query, without recursion, to one authoritative
// server and records what it said. Only an authoritative (AA) NOERROR or
// NXDOMAIN counts as its view of the zone; anything else, a referral or a
// lame answer included, leaves it unchecked. No detail names the socket,
// and a refused connection reads as a timeout does ("no answer"): the
// zone's owner picks these addresses, and telling the two apart would make
// /check a reachability probe of whatever they point at.
func (g *gatherer) askServer(ctx context.Context, name string, s *ServerData) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeMX)
	m.RecursionDesired = false
	m.SetEdns0(exchangeUDPSize, false)
	server := g.opts.NSAddr(s.Host, s.Address)
	r, err := g.q.exchange(ctx, server, m)
	switch {
	case err != nil:
		s.Lookup = Lookup{Outcome: OutcomeFailed, Detail: "no answer"}
	case r.Rcode == dns.RcodeServerFailure:
		s.Lookup = Lookup{Outcome: OutcomeServFail, Detail: "answered SERVFAIL"}
	case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
		s.Lookup = Lookup{Outcome: OutcomeFailed, Detail: "answered " + dns.RcodeToString[r.Rcode]}
	case !r.Authoritative:
		s.Lookup = Lookup{Outcome: OutcomeFailed, Detail: "answered without authority (lame delegation)"}
	case r.Rcode == dns.RcodeNameError:
		s.Lookup = Lookup{Outcome: OutcomeNXDomain}
	default:
		s.Lookup = Lookup{Outcome: OutcomeOK}
		for _, rr := range r.Answer {
			if mx, ok := rr.(*dns.MX); ok && strings.EqualFold(dns.Fqdn(mx.Hdr.Name), dns.Fqdn(name)) {
				s.Records = append(s.Records, MXRecord{Host: normHost(mx.Mx), Preference: mx.Preference, TTL: mx.Hdr.Ttl})
			}
		}
	}
}
