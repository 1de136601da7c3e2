package exim

import (
	"net/netip"
	"sync"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

// Defaults for Plans.
const (
	// DefaultPlanMemory is how long a served plan's host names and route id
	// are kept for the reports of the attempts that follow it. Exim tries
	// the hosts right after routing; a retry later routes afresh.
	DefaultPlanMemory = 10 * time.Minute
	// DefaultMaxPlanEntries bounds the (domain, address) pairs kept.
	DefaultMaxPlanEntries = 100_000
)

// Plans remembers, per domain and address, the MX host name and route id of
// the plans the agent served. Exim only knows the IP literal it was given,
// so reports get the host name and route id from here.
type Plans struct {
	mu     sync.Mutex
	max    int
	ttl    time.Duration
	now    func() time.Time
	byPair map[planKey]planEntry
}

type planKey struct{ domain, address string }

type planEntry struct {
	host, routeID string
	until         time.Time
}

// NewPlans returns an empty memory; zero max or ttl take the defaults, nil
// now is time.Now.
func NewPlans(max int, ttl time.Duration, now func() time.Time) *Plans {
	if max <= 0 {
		max = DefaultMaxPlanEntries
	}
	if ttl <= 0 {
		ttl = DefaultPlanMemory
	}
	if now == nil {
		now = time.Now
	}
	return &Plans{max: max, ttl: ttl, now: now, byPair: map[planKey]planEntry{}}
}

// Remember notes the attempts of a plan being served.
func (p *Plans) Remember(plan apigen.Plan) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range plan.Attempts {
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		k := planKey{plan.Domain, ip.Unmap().String()}
		if _, ok := p.byPair[k]; !ok && len(p.byPair) >= p.max && !p.evict(now) {
			return
		}
		p.byPair[k] = planEntry{host: a.Host, routeID: plan.RouteId, until: now.Add(p.ttl)}
	}
}

// evict drops expired entries, else one arbitrary entry; false when
// nothing could be dropped.
func (p *Plans) evict(now time.Time) bool {
	n := len(p.byPair)
	for k, e := range p.byPair {
		if now.After(e.until) {
			delete(p.byPair, k)
		}
	}
	if len(p.byPair) < n {
		return true
	}
	for k := range p.byPair {
		delete(p.byPair, k)
		return true
	}
	return false
}

// Lookup returns what a plan for domain said about address.
func (p *Plans) Lookup(domain, address string) (host, routeID string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.byPair[planKey{domain, address}]
	if !ok || p.now().After(e.until) {
		return "", "", false
	}
	return e.host, e.routeID, true
}

// Report turns an attempt into a /feedback report, with the host name and
// route id of the plan that led to it when the agent served one.
func (a Attempt) Report(plans *Plans) apigen.Report {
	r := apigen.Report{Address: a.Address, Outcome: a.Outcome, Stage: a.Stage}
	at := a.At.UTC()
	r.ObservedAt = &at
	if a.Domain != "" {
		d := a.Domain
		r.Domain = &d
	}
	host := a.Host
	if plans != nil && a.Domain != "" {
		if h, id, ok := plans.Lookup(a.Domain, a.Address); ok {
			host = h
			r.RouteId = &id
		}
	}
	if host != "" && host != a.Address {
		r.Host = &host
	}
	if a.Code != 0 {
		c := a.Code
		r.SmtpCode = &c
	}
	if a.Status != "" {
		s := a.Status
		r.EnhancedCode = &s
	}
	return r
}
