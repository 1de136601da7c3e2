package resolver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/miekg/dns"
)

// ServerZone is Answer.Server for answers from Config.Local.
const ServerZone = "zone"

// Lookup resolves name and qtype, following CNAMEs, and returns the final
// answer: records of qtype owned by the last name of the chain, or a
// negative answer (NXDOMAIN or NODATA, see Answer). Names in Config.Local
// are answered from there alone; others go to the upstream servers in turn,
// failing ones last (see Config.MaxFails), over UDP with EDNS0 and RD and
// over TCP when truncated, moving on after a timeout, SERVFAIL, REFUSED,
// network error or unusable reply, and stopping at the first NOERROR or
// NXDOMAIN. The whole lookup is bounded by Config.Budget and ctx.
//
// name may be in any case, with or without the trailing dot. Errors wrap
// ErrServFail, ErrRefused, ErrTimeout (also for an expired ctx deadline),
// ErrBadResponse, ErrCNAMELoop, ErrInvalidName, context.Canceled or a
// network error; when every server failed, the error joins each server's.
func (c *Client) Lookup(ctx context.Context, name string, qtype uint16) (Answer, error) {
	qname, err := normalise(name)
	if err != nil {
		return Answer{}, fmt.Errorf("lookup %s %q: %w", dns.Type(qtype), name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.budget)
	defer cancel()

	ans := Answer{Name: qname, Qtype: qtype}
	ttl := uint32(math.MaxUint32)
	seen := map[string]bool{qname: true}
	cur := qname
	// Secure only if every reply along the chain is.
	secure := c.validating
	for {
		r, server, err := c.resolveOne(ctx, cur, qtype)
		if err != nil {
			return Answer{}, err
		}
		// Walk the chain as far as this reply carries it.
		target := cur
		var records []dns.RR
		for {
			records = ownedBy(r.Answer, target, qtype)
			if len(records) > 0 || qtype == dns.TypeCNAME {
				break
			}
			cn := cnameOf(r.Answer, target)
			if cn == nil {
				break
			}
			next := dns.CanonicalName(cn.Target)
			if seen[next] || len(ans.CNAMEs) >= c.maxCNAME {
				return Answer{}, fmt.Errorf("lookup %s %s: chain %s -> %s: %w",
					dns.Type(qtype), qname, chainString(qname, ans.CNAMEs), next, ErrCNAMELoop)
			}
			seen[next] = true
			ans.CNAMEs = append(ans.CNAMEs, next)
			ttl = min(ttl, cn.Hdr.Ttl)
			target = next
		}

		ans.Server, ans.Authoritative, ans.Rcode = server, r.Authoritative, r.Rcode
		secure = secure && server != ServerZone && r.AuthenticatedData
		ans.Secure = secure
		switch {
		case len(records) > 0:
			for _, rr := range records {
				ttl = min(ttl, rr.Header().Ttl)
			}
			ans.Records = records
			ans.TTL = seconds(ttl)
			return ans, nil
		case target != cur && r.Rcode == dns.RcodeSuccess && soaOf(r.Ns) == nil:
			// The reply ends in a CNAME whose target it says nothing
			// about (an authoritative server for another zone, or local
			// data pointing outside): ask for the target itself.
			cur = target
			continue
		default:
			// NXDOMAIN, or NODATA (an SOA says so, or nothing in the
			// answer at all). The rcode of a reply that followed a chain
			// is about the chain's last name (RFC 6604).
			ans.TTL = seconds(min(ttl, negativeTTL(r)))
			return ans, nil
		}
	}
}

// resolveOne answers one name without following CNAMEs across replies:
// from the local zones when they hold the name, else upstream.
func (c *Client) resolveOne(ctx context.Context, name string, qtype uint16) (*dns.Msg, string, error) {
	if c.local != nil {
		if r, ok := c.local.answer(name, qtype); ok {
			return r, ServerZone, nil
		}
	}
	return c.queryServers(ctx, name, qtype)
}

// queryServers asks the servers in turn until one gives a final reply
// (NOERROR or NXDOMAIN): first the healthy ones and those due for a retry,
// in configured order, then the failing ones (see health.order). Each
// outcome updates the server's health.
func (c *Client) queryServers(ctx context.Context, name string, qtype uint16) (*dns.Msg, string, error) {
	front, back := c.health.order(c.ups, c.health.now())
	var errs []error
	for len(front)+len(back) > 0 {
		var cd candidate
		if len(front) > 0 {
			cd, front = front[0], front[1:]
		} else {
			cd, back = back[0], back[1:]
		}
		if ctx.Err() != nil {
			if len(errs) == 0 {
				errs = append(errs, fmt.Errorf("lookup %s %s: %w", dns.Type(qtype), name, ctxError(ctx)))
			}
			break
		}
		if cd.due && !c.health.claim(cd.u, c.health.now()) {
			// Another lookup is retrying it: wait for its verdict, and
			// meanwhile treat the server as still failing.
			back = deferCandidate(back, cd)
			continue
		}
		// A fresh message, and so a fresh random ID, per server.
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.RecursionDesired = true
		// RFC 6840 section 5.7: AD in a query asks a validating
		// resolver to say whether the answer validated.
		m.AuthenticatedData = c.validating
		m.SetEdns0(c.udpSize, false)
		// Upstreams are few and chosen by the operator, so their address
		// is a bounded metric label.
		r, err := c.exchange(ctx, cd.u.addr, cd.u.addr, &cd.u.conns, m)
		if err == nil {
			err = rcodeError(r.Rcode)
		}
		c.health.record(cd.u, err)
		if err == nil {
			return r, cd.u.addr, nil
		}
		errs = append(errs, fmt.Errorf("lookup %s %s via %s: %w", dns.Type(qtype), name, cd.u.addr, err))
	}
	return nil, "", errors.Join(errs...)
}

// negativeTTL is the cache lifetime of a negative reply, per RFC 2308
// section 5: the smaller of the SOA record's TTL and its MINIMUM field.
func negativeTTL(r *dns.Msg) uint32 {
	soa := soaOf(r.Ns)
	if soa == nil {
		return uint32(DefaultNegativeTTL / time.Second)
	}
	return min(soa.Hdr.Ttl, soa.Minttl)
}

func soaOf(rrs []dns.RR) *dns.SOA {
	for _, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	return nil
}

// ownedBy returns the records of qtype owned by name, in reply order.
func ownedBy(rrs []dns.RR, name string, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == qtype && equalNames(h.Name, name) {
			out = append(out, rr)
		}
	}
	return out
}

func cnameOf(rrs []dns.RR, name string) *dns.CNAME {
	for _, rr := range rrs {
		if cn, ok := rr.(*dns.CNAME); ok && equalNames(cn.Hdr.Name, name) {
			return cn
		}
	}
	return nil
}

// normalise makes name fully qualified and lower case, and rejects what is
// not a domain name.
func normalise(name string) (string, error) {
	if name == "" {
		return "", ErrInvalidName
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return "", ErrInvalidName
	}
	return dns.CanonicalName(name), nil
}

func chainString(name string, cnames []string) string {
	s := name
	for _, n := range cnames {
		s += " -> " + n
	}
	return s
}

func seconds(ttl uint32) time.Duration { return time.Duration(ttl) * time.Second }
