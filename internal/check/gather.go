package check

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
)

// gatherer holds the state of one Gather call.
type gatherer struct {
	opts Options
	q    *querier
}

// gather runs the phases: the MX lookup; then, in parallel, the
// consistency check and the forward lookups of the targets followed by the
// reverse lookups of their addresses.
func (g *gatherer) gather(ctx context.Context, domain string) Data {
	d := Data{Domain: domain}
	ans, err := g.q.lookup(ctx, domain, dns.TypeMX)
	d.MX.Lookup = outcome(ans, err)
	d.MX.Authoritative = err == nil && ans.Authoritative
	for _, rr := range ans.Records {
		if mx, ok := rr.(*dns.MX); ok {
			d.MX.Records = append(d.MX.Records, MXRecord{Host: normHost(mx.Mx), Preference: mx.Preference, TTL: mx.Hdr.Ttl})
		}
	}
	// The MX set lives where the CNAME chain ends, if the domain has one.
	owner := domain
	if len(ans.CNAMEs) > 0 {
		owner = normHost(ans.CNAMEs[len(ans.CNAMEs)-1])
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		cctx, cancel := context.WithTimeout(ctx, g.opts.ConsistencyBudget)
		defer cancel()
		d.Consistency = g.consistency(cctx, owner)
	})
	wg.Go(func() { d.STS = g.gatherSTS(ctx, domain) })
	if d.MX.Lookup.Outcome == OutcomeOK {
		d.Hosts = g.resolveHosts(ctx, targetNames(domain, d.MX.Records))
		rctx, cancel := context.WithTimeout(ctx, g.opts.ReverseBudget)
		d.Reverse = g.reverse(rctx, reverseAddresses(d.Hosts))
		cancel()
	}
	wg.Wait()
	return d
}

// targetNames lists the names to resolve: each distinct MX target that is
// a name, or the domain itself when there are no MX records (implicit MX).
// A null MX alone resolves nothing.
func targetNames(domain string, recs []MXRecord) []string {
	if len(recs) == 0 {
		return []string{domain}
	}
	var names []string
	for _, r := range recs {
		if r.Host != "." && !isIPLiteral(r.Host) {
			names = appendNew(names, r.Host)
		}
	}
	return names
}

// resolveHosts looks up A and AAAA of every name, and with DANE its TLSA
// records, all in parallel.
func (g *gatherer) resolveHosts(ctx context.Context, names []string) []HostData {
	type result struct {
		ans resolver.Answer
		err error
	}
	qtypes := []uint16{dns.TypeA, dns.TypeAAAA}
	if g.opts.DANE {
		qtypes = append(qtypes, dns.TypeTLSA)
	}
	res := make([][3]result, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		for j, qtype := range qtypes {
			owner := name
			if qtype == dns.TypeTLSA {
				owner = "_25._tcp." + name
			}
			wg.Go(func() {
				ans, err := g.q.lookup(ctx, owner, qtype)
				res[i][j] = result{ans, err}
			})
		}
	}
	wg.Wait()

	hosts := make([]HostData, len(names))
	for i, name := range names {
		a, aaaa := res[i][0], res[i][1]
		h := HostData{Host: name, A: outcome(a.ans, a.err), AAAA: outcome(aaaa.ans, aaaa.err), Secure: a.ans.Secure || aaaa.ans.Secure}
		// A before AAAA, each in resolver order.
		h.Addresses = append(answerAddrs(a.ans), answerAddrs(aaaa.ans)...)
		cnames := a.ans.CNAMEs
		if len(cnames) == 0 {
			cnames = aaaa.ans.CNAMEs
		}
		for _, c := range cnames {
			h.CNAMEs = append(h.CNAMEs, normHost(c))
		}
		if g.opts.DANE {
			t := res[i][2]
			h.TLSA = &TLSAData{Lookup: outcome(t.ans, t.err), Secure: t.ans.Secure}
			for _, rr := range t.ans.Records {
				if _, ok := rr.(*dns.TLSA); ok {
					h.TLSA.Records++
				}
			}
		}
		hosts[i] = h
	}
	return hosts
}

// answerAddrs extracts the addresses of an A or AAAA answer, in order.
func answerAddrs(ans resolver.Answer) []netip.Addr {
	var out []netip.Addr
	for _, rr := range ans.Records {
		var ip []byte
		switch v := rr.(type) {
		case *dns.A:
			ip = v.A.To4()
		case *dns.AAAA:
			ip = v.AAAA.To16()
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// reverseAddresses lists the distinct addresses worth a PTR lookup, in
// host order: every resolved address that is not unroutable, up to
// maxReverseAddresses; the rest stay unchecked.
func reverseAddresses(hosts []HostData) []netip.Addr {
	var out []netip.Addr
	for _, h := range hosts {
		for _, a := range h.Addresses {
			a = a.Unmap()
			if classify(a) != classUnroutable && len(out) < maxReverseAddresses {
				out = appendNew(out, a)
			}
		}
	}
	return out
}

// reverse looks up the PTR names of every address and the addresses of
// those names, all in parallel.
func (g *gatherer) reverse(ctx context.Context, addrs []netip.Addr) []ReverseData {
	out := make([]ReverseData, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() { out[i] = g.reverseOne(ctx, a) })
	}
	wg.Wait()
	return out
}

func (g *gatherer) reverseOne(ctx context.Context, a netip.Addr) ReverseData {
	rd := ReverseData{Address: a}
	arpa, err := dns.ReverseAddr(a.String())
	if err != nil {
		rd.PTR = Lookup{Outcome: OutcomeFailed, Detail: fmt.Sprintf("reverse name of %s: %v", a, err)}
		return rd
	}
	ans, err := g.q.lookup(ctx, arpa, dns.TypePTR)
	rd.PTR = outcome(ans, err)
	for _, rr := range ans.Records {
		if p, ok := rr.(*dns.PTR); ok {
			rd.Names = appendNew(rd.Names, normHost(p.Ptr))
		}
	}
	qtype := dns.TypeAAAA
	if a.Is4() {
		qtype = dns.TypeA
	}
	names := rd.Names[:min(len(rd.Names), maxPTRNames)]
	rd.Forward = make([]ForwardData, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			fans, ferr := g.q.lookup(ctx, n, qtype)
			rd.Forward[i] = ForwardData{Name: n, Lookup: outcome(fans, ferr), Addresses: answerAddrs(fans)}
		})
	}
	wg.Wait()
	return rd
}
