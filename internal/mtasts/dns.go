package mtasts

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/routing"
)

// Lookuper is a DNS lookup; *cache.Cache and *resolver.Client satisfy it.
type Lookuper interface {
	Lookup(ctx context.Context, name string, qtype uint16) (resolver.Answer, error)
}

// DNSAddrs resolves policy hosts through mxroute's own DNS stack.
type DNSAddrs struct{ DNS Lookuper }

var _ AddrResolver = DNSAddrs{}

// LookupAddrs returns host's IPv4 then IPv6 addresses. One family failing
// is not an error when the other has addresses.
func (r DNSAddrs) LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	var errs []error
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		ans, err := r.DNS.Lookup(ctx, dns.Fqdn(host), qt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// The cache returns addresses in compact form only; Compact
		// gives the same from a *resolver.Client's records.
		out = append(out, ans.Compact().Addrs...)
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("resolve %s: %w", host, errors.Join(errs...))
	}
	return out, nil
}

// TXTFromAnswer extracts the policy id from the answer to the TXT lookup
// of _mta-sts.<domain>; an empty TXT when there is no valid record.
func TXTFromAnswer(ans resolver.Answer) TXT {
	var recs []string
	for _, rr := range ans.Records {
		if t, ok := rr.(*dns.TXT); ok {
			recs = append(recs, strings.Join(t.Txt, ""))
		}
	}
	id, err := ParseTXT(recs)
	if err != nil {
		return TXT{}
	}
	return TXT{ID: id}
}

// PolicyFor is Cache.Policy for the outcome of the TXT lookup of _mta-sts.<domain>
// (the form the plan gatherer has): a failed lookup is no id, so a cached
// policy still applies.
func (c *Cache) PolicyFor(ctx context.Context, domain string, ans resolver.Answer, err error) routing.STSInput {
	if err != nil {
		return c.Policy(ctx, domain, TXT{})
	}
	return c.Policy(ctx, domain, TXTFromAnswer(ans))
}
