package gather

import (
	"context"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/cache"
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

// tlsaLookups are a plan's TLSA lookups, one per MX host, started beside
// its address lookups so that DANE costs no round trip of its own.
type tlsaLookups struct {
	// done holds the answers the cache gave at once.
	done []tlsaResult
	// pending holds, for each other host, where its lookup's result
	// arrives; buffered, so a lookup nobody waits for still ends.
	pending []chan tlsaResult
}

type tlsaResult struct {
	ans resolver.Answer
	res cache.Result
	err error
}

// startTLSA peeks every host's TLSA answer in the cache and starts the
// lookups of the others; nil without DANE. One goroutine launches the
// lookups, at most maxParallelLookups at a time, so neither this
// goroutine nor the address lookups wait for a slot; a warm plan starts
// none.
func (s *Service) startTLSA(ctx context.Context, targets []string) *tlsaLookups {
	if !s.dane {
		return nil
	}
	l := &tlsaLookups{done: make([]tlsaResult, len(targets)), pending: make([]chan tlsaResult, len(targets))}
	var misses []int
	for i, h := range targets {
		if ans, res, ok := s.dns.Peek(ctx, tlsaName(h), dns.TypeTLSA); ok {
			l.done[i] = tlsaResult{ans: ans, res: res}
			continue
		}
		l.pending[i] = make(chan tlsaResult, 1)
		misses = append(misses, i)
	}
	if len(misses) > 0 {
		go s.launchTLSA(ctx, targets, misses, l.pending)
	}
	return l
}

// launchTLSA runs the missed lookups until ctx ends (the plan is built).
func (s *Service) launchTLSA(ctx context.Context, targets []string, misses []int, pending []chan tlsaResult) {
	slots := make(chan struct{}, maxParallelLookups)
	for _, i := range misses {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		go func() {
			defer func() { <-slots }()
			ans, res, err := s.dns.LookupResult(ctx, tlsaName(targets[i]), dns.TypeTLSA)
			pending[i] <- tlsaResult{ans, res, err}
		}()
	}
}

// collect fills in the TLSA answers of the hosts whose address answers
// are DNSSEC-validated, waiting for their lookups, and drops the others'
// without waiting: DANE applies only to MX hosts with secure address
// records (RFC 7672 section 2.2.2), so an insecure host's slow or failing
// TLSA lookup must cost the plan neither time nor its kept input.
func (l *tlsaLookups) collect(ctx context.Context, answers []routing.HostAnswers, t *tally) {
	if l == nil {
		return
	}
	for i := range answers {
		a := &answers[i]
		if !a.V4.Secure && !a.V6.Secure {
			continue
		}
		r := l.done[i]
		if ch := l.pending[i]; ch != nil {
			select {
			case r = <-ch:
			case <-ctx.Done():
				r = tlsaResult{res: cache.ResultError, err: ctx.Err()}
			}
		}
		t.add(r.ans, r.res, r.err)
		a.TLSA = tlsaAnswer(r.ans, r.err)
	}
}
