package cache

import (
	"context"
	"fmt"
	"time"

	"github.com/mxroute/mxroute/internal/resolver"
)

// flight is one shared upstream lookup of a key, in flight or landed.
//
// It plays the part of x/sync/singleflight, which cannot tell a caller
// joining a lookup when that lookup started: the client response timer
// (Config.StaleAnswerAfter) runs from there, so that an overdue refresh
// makes no further caller wait. Keeping the flights here also lets the
// cache count each one in its WaitGroup before its goroutine starts, so
// Close waits for every goroutine it started.
type flight struct {
	// started is on the runtime clock, like the timers measured from it.
	started time.Time
	done    chan struct{}
	// out is written once, before done is closed.
	out outcome
}

// outcome is what a shared upstream lookup hands to every caller waiting
// for it.
type outcome struct {
	answer resolver.Answer
	result Result
	err    error
}

// join returns the flight of k, starting one if none is in flight. The
// caller read seen from the cache before (nil if there was nothing). With
// recheck, if the entry changed since then, a flight landed in between,
// so join starts nothing and reports changed for the caller to look
// again. It returns ErrClosed once Close has begun.
func (c *Cache) join(ctx context.Context, k key, seen *entry, recheck bool) (f *flight, changed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, false, ErrClosed
	}
	if f := c.flights[k]; f != nil {
		return f, false, nil
	}
	// A flight stores its entry before it leaves c.flights, so under
	// c.mu "no flight" means any earlier flight's entry is visible here.
	if recheck {
		if cur, _ := c.get(k, c.cfg.Now()); cur != seen {
			return nil, true, nil
		}
	}
	f = &flight{started: time.Now(), done: make(chan struct{})}
	c.flights[k] = f
	c.inflight.Add(1)
	// Values (the trace parent) stay, cancellation does not: the flight
	// serves every caller joining it and outlives those that stop waiting.
	fctx := context.WithoutCancel(ctx)
	go func() {
		defer c.inflight.Done()
		out := c.fill(fctx, k)
		c.mu.Lock()
		delete(c.flights, k)
		c.mu.Unlock()
		f.out = out
		close(f.done)
	}()
	return f, false, nil
}

// wait waits for f, the refresh of k, on behalf of a caller that saw e in
// the cache at now. When e has a stale answer, the wait ends
// StaleAnswerAfter after f started, or when the stale budget of the
// caller's plan (WithStaleBudget) is spent, with that answer, and f goes
// on in the background. A caller whose ctx ends stops waiting with its
// error.
func (c *Cache) wait(ctx context.Context, k key, f *flight, e *entry, now time.Time) (resolver.Answer, Result, error) {
	var timeout <-chan struct{} // nil, never ready: nothing stale to serve
	stale, ok := e.stale(k, now, c.cfg.StaleTTL)
	if ok && c.cfg.StaleAnswerAfter > 0 {
		left := c.cfg.StaleAnswerAfter - time.Since(f.started)
		b := budgetFrom(ctx)
		if left <= 0 || (b != nil && b.spent()) {
			// The refresh is overdue, or the plan has waited its one
			// budget: no waiting, unless the refresh has landed, in
			// which case its word beats the stale one.
			select {
			case <-f.done:
				return f.out.answer, f.out.result, f.out.err
			default:
				return stale, ResultStale, nil
			}
		}
		if b == nil {
			// A lookup outside any plan: a budget of its own.
			b = &staleBudget{done: make(chan struct{})}
			defer b.release()
		}
		timeout = b.start(left, c.tel.staleTimeout)
	}
	select {
	case <-f.done:
		return f.out.answer, f.out.result, f.out.err
	case <-timeout:
		return stale, ResultStale, nil
	case <-ctx.Done():
		return resolver.Answer{}, ResultError, fmt.Errorf("dns cache: waiting for %s: %w", k, context.Cause(ctx))
	}
}
