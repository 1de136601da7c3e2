// Package gather answers "where do I deliver mail for this domain": it
// gathers the DNS data a plan needs through the answer cache and hands it to
// the pure planner in package routing.
//
// A warm plan costs one map lookup: the gathered DNS data of a domain is
// kept until the earliest expiry of its answers (see inputs.go) and the
// DNS cache is not asked again meanwhile; those lookups are counted as
// cache hits, because that is what the DNS cache would have answered.
// Requests whose span is recorded always gather, so that a sampled trace
// shows every lookup as a span event.
//
// A cold plan costs two sequential resolver round trips: the MX query
// (with the _mta-sts TXT query beside it), then every address query of
// every MX target, and with DANE every TLSA query, at once. Waiting for
// each target in turn would multiply a sender's latency by the number of
// MX hosts, and the planner needs all of them before it can order
// anything. Shuffling happens in the planner on every call, so a cached
// answer never freezes the order of equal-preference hosts.
package gather

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/miekg/dns"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/mxroute/mxroute/internal/cache"
	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/routing"
)

// Resolver answers DNS lookups and says whether the cache answered them;
// Peek answers only what it can at once, without waiting. *cache.Cache
// satisfies it.
type Resolver interface {
	LookupResult(ctx context.Context, name string, qtype uint16) (resolver.Answer, cache.Result, error)
	Peek(ctx context.Context, name string, qtype uint16) (resolver.Answer, cache.Result, bool)
}

// Config configures a Service.
type Config struct {
	// Options are the operator's planner settings; a request may narrow
	// MaxAttempts and Family. Default routing.DefaultOptions().
	Options *routing.Options
	// Budget bounds the DNS work of one plan, MX and address lookups
	// together, so a sender gets an answer (a temporary failure at worst)
	// within it. Default 5s.
	Budget time.Duration
	// Health is the fleet's view of addresses. Nil: everything healthy.
	Health routing.Health
	// MeterProvider receives the mxroute.plans counter. Nil: no metrics.
	MeterProvider metric.MeterProvider
	// MaxInputs bounds the domains whose gathered DNS data is kept
	// between plans. Default 4096; negative: nothing is kept, every plan
	// asks the DNS cache.
	MaxInputs int
	// Now is the clock the kept data expires by; it must be the DNS
	// cache's clock. Default time.Now.
	Now func() time.Time
	// STS supplies domains' MTA-STS policies; nil: plans carry none and
	// no TXT lookup is made.
	STS STSPolicies
	// DANE looks up TLSA _25._tcp.<host> for every MX host, alongside
	// its address lookups (RFC 7672), and uses the answers of the hosts
	// whose addresses are DNSSEC-validated. Only worth setting when the
	// resolver's answers can be Secure (resolver.Config.Validating).
	DANE bool
}

// Request is one sender's question.
type Request struct {
	// Domain is normalised (routing.NormalizeDomain).
	Domain string
	// MaxAttempts overrides the operator's default when positive.
	MaxAttempts int
	// Family narrows the addresses; empty means any.
	Family routing.Family
}

// instrumentationName names the meter of this package.
const instrumentationName = "github.com/mxroute/mxroute/internal/gather"

// DefaultBudget is the default Config.Budget: the "about 5 s in total" a
// sender waits before a DNS problem becomes a temporary failure.
const DefaultBudget = 5 * time.Second

// maxParallelLookups bounds the address queries one plan has in flight,
// and separately its TLSA queries: a domain publishing hundreds of MX
// records must not get hundreds of goroutines and queries at once. 16
// covers every sane layout (a host has at most two address lookups) in one
// round trip.
const maxParallelLookups = 16

// Service builds plans. It is safe for concurrent use.
type Service struct {
	dns    Resolver
	budget time.Duration
	opts   routing.Options
	health routing.Health
	plans  metric.Int64Counter
	attrs  sync.Map // planKey -> []metric.AddOption
	inputs *inputCache
	kept   metric.Int64Counter
	now    func() time.Time
	sts    STSPolicies
	dane   bool
}

// New returns a Service resolving through r.
func New(r Resolver, cfg Config) (*Service, error) {
	opts := routing.DefaultOptions()
	if cfg.Options != nil {
		opts = *cfg.Options
	}
	mp := cfg.MeterProvider
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	plans, err := mp.Meter(instrumentationName).Int64Counter("mxroute.plans",
		metric.WithDescription("Plans served, by disposition and reason."))
	if err != nil {
		return nil, errors.Join(errors.New("gather: plans counter"), err)
	}
	budget := cfg.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	s := &Service{dns: r, budget: budget, opts: opts, health: cfg.Health, plans: plans, now: cfg.Now, sts: cfg.STS, dane: cfg.DANE}
	if s.now == nil {
		s.now = time.Now
	}
	if s.kept, err = mp.Meter(instrumentationName).Int64Counter("mxroute.plan.inputs_kept",
		metric.WithDescription("Plans built from a domain's kept DNS data, without asking the DNS cache.")); err != nil {
		return nil, errors.Join(errors.New("gather: inputs_kept counter"), err)
	}
	if cfg.MaxInputs >= 0 {
		if s.inputs, err = newInputCache(cmp.Or(cfg.MaxInputs, defaultMaxInputs), s.now); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Plan builds the delivery plan for req. DNS failures are part of the plan
// (a temporary or permanent disposition), so there is no error to return.
func (s *Service) Plan(ctx context.Context, req Request) routing.Plan {
	opts := s.opts
	if req.MaxAttempts > 0 {
		opts.MaxAttempts = req.MaxAttempts
	}
	if req.Family != "" {
		opts.Family = req.Family
	}
	span := trace.SpanFromContext(ctx)
	in, age, hits := s.input(ctx, req.Domain, opts.Family, span.IsRecording())
	p := routing.Build(in, s.health, opts)
	if age > 0 && p.TTL > 0 {
		// Every answer's remaining TTL has shrunk by the input's age, so
		// their minimum has too.
		p.TTL = max(p.TTL-age, 0)
	}
	if sts := p.TLS.STS; sts != nil && p.TTL > 0 {
		// A sender caching the plan must not outlive the policy in it.
		p.TTL = max(min(p.TTL, sts.ExpiresAt.Sub(s.now()).Truncate(time.Second)), 0)
	}

	if hits != nil && span.IsRecording() {
		span.SetAttributes(
			attribute.String("mxroute.domain", p.Domain),
			attribute.String("mxroute.disposition", string(p.Disposition)),
			attribute.String("mxroute.reason", string(p.Reason)),
			attribute.Int("mxroute.attempts", len(p.Attempts)),
			attribute.Int("mxroute.demoted", p.Demoted()),
			attribute.Bool("mxroute.implicit_mx", p.ImplicitMX),
			attribute.Int("mxroute.dns.cache_hits", hits.hit),
			attribute.Int("mxroute.dns.cache_misses", hits.miss),
			attribute.Int("mxroute.dns.cache_stale", hits.stale),
		)
	}
	s.plans.Add(ctx, 1, s.planAttrs(p.Disposition, p.Reason)...)
	return p
}

// planAttrs returns the counter's attributes for a disposition and reason,
// built once per pair: the pairs are few, and building them on every
// request allocated on the hot path.
// The options are a whole variadic slice, and the key a struct, so that
// counting a plan allocates nothing.
func (s *Service) planAttrs(d routing.Disposition, r routing.Reason) []metric.AddOption {
	k := planKey{d, r}
	if o, ok := s.attrs.Load(k); ok {
		return o.([]metric.AddOption)
	}
	o := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("disposition", string(d)), attribute.String("reason", string(r))))}
	s.attrs.Store(k, o)
	return o
}

type planKey struct {
	d routing.Disposition
	r routing.Reason
}

// input returns the planner's input for domain: kept from an earlier plan
// (with its age) when it is still valid and the span is not recorded,
// else gathered now (with the tally of how the DNS cache answered).
func (s *Service) input(ctx context.Context, domain string, fam routing.Family, recording bool) (routing.Input, time.Duration, *tally) {
	k := inputKey{domain: domain, family: fam}
	now := s.now()
	if s.inputs != nil && !recording {
		if e, ok := s.inputs.get(k, now); ok {
			s.kept.Add(ctx, 1)
			return e.in, now.Sub(e.at), nil
		}
	}
	dctx, cancel := context.WithTimeout(ctx, s.budget)
	// One serve-stale timer for the whole plan, MX and address rounds
	// together: a dead upstream costs a sender one StaleAnswerAfter.
	dctx, release := cache.WithStaleBudget(dctx)
	in, t := s.gather(dctx, domain, fam)
	release()
	cancel()
	// The answers' TTLs were read after now, so now+TTL is never later
	// than their expiry in the DNS cache.
	if ttl, ok := t.keepFor(); ok && s.inputs != nil {
		s.inputs.put(k, &inputEntry{in: keptSTS(in), at: now, until: stsUntil(in, now.Add(ttl))})
	}
	return in, 0, t
}

// tally counts how the cache answered the lookups of one plan, and how
// long their answers may be kept.
type tally struct {
	mu               sync.Mutex
	hit, miss, stale int
	// failed is set by an error or a stale answer: such an input is
	// not kept.
	failed bool
	minTTL time.Duration
	n      int
}

func (t *tally) add(ans resolver.Answer, r cache.Result, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch r {
	case cache.ResultHit:
		t.hit++
	case cache.ResultStale:
		t.stale++
	default:
		t.miss++
	}
	if err != nil || r == cache.ResultStale || r == cache.ResultError {
		t.failed = true
	}
	if t.n == 0 || ans.TTL < t.minTTL {
		t.minTTL = ans.TTL
	}
	t.n++
}

// keepFor is how long the gathered input may be kept: until the first of
// its answers expires; not at all after a failure or a stale answer.
func (t *tally) keepFor() (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed || t.n == 0 || t.minTTL <= 0 {
		return 0, false
	}
	return t.minTTL, true
}

// gather looks up the MX records, then every target's addresses in
// parallel.
func (s *Service) gather(ctx context.Context, domain string, fam routing.Family) (routing.Input, *tally) {
	t := &tally{}
	sts := s.startSTS(ctx, domain, t)
	in := s.gatherDNS(ctx, domain, fam, t)
	in.STS = sts()
	return in, t
}

// gatherDNS looks up the MX records, then every target's addresses (and
// TLSA records, with DANE) at once.
func (s *Service) gatherDNS(ctx context.Context, domain string, fam routing.Family, t *tally) routing.Input {
	in := routing.Input{Domain: domain, Hosts: map[string]routing.HostAnswers{}}
	in.MX = mxAnswer(s.lookup(ctx, domain+".", dns.TypeMX, t))
	targets := routing.Targets(domain, in.MX)
	if len(targets) == 0 {
		return in
	}
	answers := make([]routing.HostAnswers, len(targets))
	tlsa := s.startTLSA(ctx, targets)
	misses := s.peekAddrs(ctx, targets, answers, fam, t)
	s.lookupAddrs(ctx, misses, t)
	tlsa.collect(ctx, answers, t)
	for i, h := range targets {
		in.Hosts[h] = answers[i]
	}
	return in
}

// addrLookup is one address lookup the cache could not answer at once,
// and where its answer goes.
type addrLookup struct {
	dst   *routing.AddrAnswer
	name  string
	qtype uint16
}

// peekAddrs fills answers with what the cache can answer at once, and
// returns the lookups left to make.
func (s *Service) peekAddrs(ctx context.Context, targets []string, answers []routing.HostAnswers, fam routing.Family, t *tally) []addrLookup {
	v4, v6 := fam.Lookups()
	var misses []addrLookup
	peek := func(dst *routing.AddrAnswer, host string, qtype uint16) {
		name := host + "."
		if ans, res, ok := s.dns.Peek(ctx, name, qtype); ok {
			t.add(ans, res, nil)
			*dst = addrAnswer(ans, res, nil)
			return
		}
		misses = append(misses, addrLookup{dst: dst, name: name, qtype: qtype})
	}
	for i, h := range targets {
		if v4 {
			peek(&answers[i].V4, h, dns.TypeA)
		}
		if v6 {
			peek(&answers[i].V6, h, dns.TypeAAAA)
		}
	}
	return misses
}

// lookupAddrs makes the lookups at once, at most maxParallelLookups at a
// time: every one but the last on a goroutine of its own, the last on
// this one, so that a plan with a single miss (one MX host, one family)
// starts no goroutine.
func (s *Service) lookupAddrs(ctx context.Context, misses []addrLookup, t *tally) {
	if len(misses) == 0 {
		return
	}
	last := misses[len(misses)-1]
	if len(misses) == 1 {
		*last.dst = addrAnswer(s.lookup(ctx, last.name, last.qtype, t))
		return
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxParallelLookups-1)
	for _, m := range misses[:len(misses)-1] {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			*m.dst = addrAnswer(s.lookup(ctx, m.name, m.qtype, t))
		})
	}
	*last.dst = addrAnswer(s.lookup(ctx, last.name, last.qtype, t))
	wg.Wait()
}

// lookup asks the cache, counting how it answered.
func (s *Service) lookup(ctx context.Context, name string, qtype uint16, t *tally) (resolver.Answer, cache.Result, error) {
	ans, res, err := s.dns.LookupResult(ctx, name, qtype)
	t.add(ans, res, err)
	return ans, res, err
}

func mxAnswer(ans resolver.Answer, res cache.Result, err error) routing.MXAnswer {
	if err != nil {
		return routing.MXAnswer{Status: routing.StatusTempFail}
	}
	out := routing.MXAnswer{TTL: ans.TTL, Stale: res == cache.ResultStale}
	if ans.NXDomain() {
		out.Status = routing.StatusNXDomain
		return out
	}
	ans = ans.Compact()
	out.Records = make([]routing.MX, 0, len(ans.MX))
	for _, mx := range ans.MX {
		out.Records = append(out.Records, routing.MX{Preference: mx.Preference, Host: routing.HostName(mx.Host)})
	}
	return out
}

func addrAnswer(ans resolver.Answer, res cache.Result, err error) routing.AddrAnswer {
	if err != nil {
		return routing.AddrAnswer{Status: routing.StatusTempFail}
	}
	out := routing.AddrAnswer{TTL: ans.TTL, CNAMEs: ans.CNAMEs, Stale: res == cache.ResultStale, Secure: ans.Secure}
	if ans.NXDomain() {
		out.Status = routing.StatusNXDomain
		return out
	}
	out.Addrs = ans.Compact().Addrs
	return out
}
