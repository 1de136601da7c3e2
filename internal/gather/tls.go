package gather

import (
	"context"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/routing"
)

// STSPolicies supplies the MTA-STS policy in force for a domain, given the
// outcome of its _mta-sts TXT lookup (RFC 8461 section 3.1): cached for
// the fleet, fetched when the TXT id is new. *mtasts.Cache satisfies it.
type STSPolicies interface {
	PolicyFor(ctx context.Context, domain string, txt resolver.Answer, err error) routing.STSInput
}

// startSTS starts the domain's TXT lookup and policy resolution alongside
// the MX lookup, so the cold path gains no round trip when the policy is
// cached, and returns a function waiting for the result. A TXT answer the
// cache has at once is used inline, without a goroutine.
func (s *Service) startSTS(ctx context.Context, domain string, t *tally) func() routing.STSInput {
	if s.sts == nil {
		return func() routing.STSInput { return routing.STSInput{} }
	}
	name := "_mta-sts." + domain + "."
	if ans, res, ok := s.dns.Peek(ctx, name, dns.TypeTXT); ok {
		t.add(ans, res, nil)
		in := s.sts.PolicyFor(ctx, domain, ans, nil)
		return func() routing.STSInput { return in }
	}
	done := make(chan routing.STSInput, 1)
	go func() {
		ans, _, err := s.lookup(ctx, name, dns.TypeTXT, t)
		done <- s.sts.PolicyFor(ctx, domain, ans, err)
	}()
	return func() routing.STSInput { return <-done }
}

// keptSTS returns the input as it is kept for later plans: a policy
// fetched for this plan is, for the next ones, a cached policy.
func keptSTS(in routing.Input) routing.Input {
	if p := in.STS.Policy; p != nil && p.Source == routing.SourceFresh {
		c := *p
		c.Source = routing.SourceCached
		in.STS.Policy = &c
	}
	return in
}

// stsUntil bounds how long an input is kept by its policy's expiry.
func stsUntil(in routing.Input, until time.Time) time.Time {
	if p := in.STS.Policy; p != nil && p.ExpiresAt.Before(until) {
		return p.ExpiresAt
	}
	return until
}

// tlsaName is the TLSA owner name of an SMTP server (RFC 7672 section
// 2.2.3): port 25, TCP, at the MX host name.
func tlsaName(host string) string { return "_25._tcp." + host + "." }

// tlsaAnswer turns a TLSA lookup into the planner's input. A failure
// (SERVFAIL, which a validating resolver also answers for a forged
// record, or a timeout) is StatusTempFail: on a signed zone the planner
// must not use the host at all (RFC 7672 section 2.2).
func tlsaAnswer(ans resolver.Answer, err error) routing.TLSAAnswer {
	if err != nil {
		return routing.TLSAAnswer{Looked: true, Status: routing.StatusTempFail}
	}
	out := routing.TLSAAnswer{Looked: true, Secure: ans.Secure, TTL: ans.TTL}
	if ans.NXDomain() {
		out.Status = routing.StatusNXDomain
		return out
	}
	for _, rr := range ans.Records {
		if r, ok := rr.(*dns.TLSA); ok {
			out.Records = append(out.Records, routing.TLSA{Usage: r.Usage, Selector: r.Selector, MatchingType: r.MatchingType, Data: strings.ToLower(r.Certificate)})
		}
	}
	return out
}
