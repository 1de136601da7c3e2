package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/feedback"
	"github.com/mxroute/mxroute/internal/handlers"
	"github.com/mxroute/mxroute/internal/resolver"
)

// dnsProbeInterval is how often readiness asks the upstream resolvers for
// the root's NS records: often enough for a dashboard, rarely enough to be
// invisible in the resolver's load.
const dnsProbeInterval = 15 * time.Second

// readiness composes /readyz from the serving flag, a DNS probe and the
// feedback service's own status.
type readiness struct {
	// state is starting, serving or draining.
	state atomic.Int32
	dns   *resolver.Client
	// upstreams reports what real lookups found of each upstream server.
	upstreams func() []resolver.ServerHealth
	fb        *feedback.Service

	mu     sync.Mutex
	dnsErr error
	probed bool
}

func newReadiness(probe *resolver.Client, upstreams func() []resolver.ServerHealth, fb *feedback.Service) *readiness {
	return &readiness{dns: probe, upstreams: upstreams, fb: fb}
}

// The serving states, in the order they come.
const (
	stateStarting int32 = iota
	stateServing
	stateDraining
)

func (r *readiness) setState(s int32) { r.state.Store(s) }

// probeDNS checks the upstream resolvers until ctx is done.
func (r *readiness) probeDNS(ctx context.Context) {
	t := time.NewTicker(dnsProbeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := r.dns.Lookup(pctx, ".", dns.TypeNS)
		cancel()
		if ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		r.dnsErr, r.probed = err, true
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Ready implements handlers.Readiness.
func (r *readiness) Ready(context.Context) (bool, []handlers.ReadyCheck) {
	var checks []handlers.ReadyCheck
	r.mu.Lock()
	switch {
	case !r.probed:
		checks = append(checks, handlers.ReadyCheck{Name: "dns", Status: "ok", Detail: "not probed yet"})
	case r.dnsErr != nil:
		checks = append(checks, handlers.ReadyCheck{Name: "dns", Status: "degraded",
			Detail: fmt.Sprintf("upstream resolvers failing (%v); cached and local-zone answers still served", r.dnsErr)})
	default:
		checks = append(checks, handlers.ReadyCheck{Name: "dns", Status: "ok"})
	}
	r.mu.Unlock()
	var failing []string
	for _, h := range r.upstreams() {
		if h.Failing {
			failing = append(failing, fmt.Sprintf("%s (%d failures: %v)", h.Server, h.ConsecutiveFailures, h.LastError))
		}
	}
	if len(failing) > 0 {
		checks = append(checks, handlers.ReadyCheck{Name: "dns_upstreams", Status: "degraded",
			Detail: "failing upstreams, tried last: " + strings.Join(failing, "; ")})
	}

	st := r.fb.Status()
	c := handlers.ReadyCheck{Name: st.Store, Status: "ok"}
	switch {
	case st.Degraded:
		c.Status = "degraded"
		c.Detail = fmt.Sprint(st.Detail)
	case !st.Answered:
		c.Status = "degraded"
		c.Detail = "not answered yet"
	}
	checks = append(checks, c)
	if st.BudgetExhausted {
		checks = append(checks, handlers.ReadyCheck{Name: "demotion_budget", Status: "degraded",
			Detail: "demotion budget exhausted: no new demotions (the fleet's own network is the likelier culprit)"})
	}
	if st.Buffered > 0 || st.Dropped > 0 {
		checks = append(checks, handlers.ReadyCheck{Name: "feedback_buffer", Status: "degraded",
			Detail: fmt.Sprintf("%d reports buffered, %d dropped", st.Buffered, st.Dropped)})
	}
	switch r.state.Load() {
	case stateStarting:
		checks = append(checks, handlers.ReadyCheck{Name: "starting", Status: "failing", Detail: "the server is starting"})
		return false, checks
	case stateDraining:
		checks = append(checks, handlers.ReadyCheck{Name: "shutting_down", Status: "failing",
			Detail: "SIGTERM received: finishing requests in flight before the listener closes"})
		return false, checks
	}
	return true, checks
}
