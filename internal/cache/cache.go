// Package cache is the DNS answer cache between the route planner and the
// DNS client: it stores resolver.Answer values per (name, type), positive
// and negative alike, and serves them until their TTL runs out.
//
// Design choices and their trade-offs:
//
//   - Lookup has the same signature as the upstream's, so the cache stacks
//     in front of a *resolver.Client without the planner knowing. Whether a
//     lookup hit is reported through LookupResult, a metric and an event on
//     the caller's span, not a span per lookup: a hit costs about as much as
//     a map read, and a span would cost more than the hit itself.
//   - Storage is an otter cache bounded by MaxBytes (W-TinyLFU evicts the
//     least useful entries). Each entry carries its own fresh-until time;
//     otter is only told when an entry becomes useless (fresh TTL plus
//     StaleFor), so that expired answers stay available for serve-stale.
//   - TTLs are clamped: [MinTTL, MaxTTL] for answers and [MinTTL,
//     NegativeMaxTTL] for NXDOMAIN and NODATA (RFC 2308). The TTL returned
//     is what remains, so a route plan never promises more than the cache
//     keeps.
//   - Serve-stale follows RFC 8767's timers. An expired answer is kept
//     for StaleFor (an hour, not RFC 8767's days: mail routed on day-old
//     data is worse than a temporary failure the sender retries). When a
//     lookup finds it, a refresh starts; if the upstream has not answered
//     StaleAnswerAfter (500ms) into the refresh, callers get the stale
//     answer with TTL StaleTTL and the refresh carries on in the
//     background, updating the cache when it lands. So a resolver outage
//     costs a caller at most StaleAnswerAfter, instead of the resolver's
//     whole timeout, which can exceed a sender's patience with mxroute.
//     A plan's lookups share one such timer (WithStaleBudget), so its
//     rounds of lookups do not each wait it.
//   - Upstream errors are never cached as answers; they are remembered for
//     FailureTTL (30s), RFC 8767's failure recheck timer. Meanwhile the
//     name sends no query: a stale answer is served at once, or the error
//     when there is none. A name never seen has nothing stale to serve,
//     so its callers wait for the upstream, bounded by its own budget.
//   - Concurrent identical lookups share one upstream lookup (a flight,
//     like singleflight). It runs detached from the caller who started
//     it, bounded by UpstreamTimeout and ended by Close, so one impatient
//     caller cannot fail the others; a caller whose context ends stops
//     waiting and gets its context's error.
//   - Answers are shared, not copied: copying Records deep would cost more
//     than the rest of a hit. Callers must treat Records and CNAMEs as
//     read-only; the slices are clipped, so appending to them is safe.
package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/miekg/dns"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mxroute/mxroute/internal/resolver"
)

// Upstream answers DNS lookups; *resolver.Client satisfies it, and so does
// *Cache.
type Upstream interface {
	Lookup(ctx context.Context, name string, qtype uint16) (resolver.Answer, error)
}

var _ Upstream = (*Cache)(nil)

// ErrClosed is returned by lookups on a closed Cache.
var ErrClosed = errors.New("dns cache closed")

// Cache is a bounded, expiring cache of DNS answers in front of an
// Upstream. It is safe for concurrent use. Close it to stop its goroutines.
type Cache struct {
	up      Upstream
	cfg     Config
	entries *otter.Cache[key, *entry]
	// recent keeps the entries stored last for minutes, which otter's
	// admission may refuse (see RecentShare).
	recent *recentTier
	tel    *telemetry

	// closing is cancelled by Close. It is the cache's own lifetime, not
	// a request's: shared upstream lookups are detached from their
	// callers, so this is what lets Close end them.
	closing context.Context
	stop    context.CancelFunc
	closed  atomic.Bool
	// mu guards flights and orders inflight.Add against Close's
	// inflight.Wait.
	mu       sync.Mutex
	flights  map[key]*flight
	inflight sync.WaitGroup
}

// New returns a Cache in front of up, configured by cfg (see Config for
// the defaults).
func New(up Upstream, cfg Config) (*Cache, error) {
	if up == nil {
		return nil, errors.New("new dns cache: nil upstream")
	}
	// Otter reads the same clock as the cache so both agree on expiry. A
	// test clock gives no ticks: otter then expires entries on access and
	// on writes only, and runs no periodic clean-up goroutine.
	var clock otter.Clock
	if cfg.Now != nil {
		clock = nowClock(cfg.Now)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new dns cache: %w", err)
	}
	recentBytes := cfg.MaxBytes / RecentShare
	c := &Cache{up: up, cfg: cfg, flights: make(map[key]*flight), recent: newRecentTier(recentBytes)}
	c.entries, err = otter.New(&otter.Options[key, *entry]{
		MaximumWeight: uint64(max(cfg.MaxBytes-recentBytes, 1)),
		Weigher:       weigh,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[key, *entry]) time.Duration {
			// Otter reads a non-positive duration as "keep the
			// previous deadline"; an entry of no use must go now.
			return max(e.Value.keepUntil().Sub(c.cfg.Now()), time.Nanosecond)
		}),
		Clock: clock,
	})
	if err != nil {
		return nil, fmt.Errorf("new dns cache: %w", err)
	}
	c.tel, err = newTelemetry(cfg.TracerProvider, cfg.MeterProvider, func() int64 {
		return int64(c.entries.EstimatedSize())
	})
	if err != nil {
		c.entries.StopAllGoroutines()
		return nil, fmt.Errorf("new dns cache: %w", err)
	}
	c.closing, c.stop = context.WithCancel(context.Background())
	return c, nil
}

// Close cancels the shared upstream lookups in flight, background
// refreshes included, waits for them and stops the cache's goroutines.
// Lookups after Close return ErrClosed.
func (c *Cache) Close() error {
	c.mu.Lock()
	already := c.closed.Swap(true)
	c.mu.Unlock()
	if already {
		return nil
	}
	c.stop()
	c.inflight.Wait()
	c.entries.StopAllGoroutines()
	return c.tel.close()
}

// Lookup returns the answer for name and qtype, from the cache when it is
// fresh, else from the upstream, else stale from the cache while the
// upstream fails or is slow (see Config.StaleAnswerAfter and FailureTTL).
// The answer's TTL is the time it remains fresh (StaleTTL for a stale
// answer). Its Records and CNAMEs are shared with the cache and other
// callers: treat them as read-only.
func (c *Cache) Lookup(ctx context.Context, name string, qtype uint16) (resolver.Answer, error) {
	ans, _, err := c.LookupResult(ctx, name, qtype)
	return ans, err
}

// LookupResult is Lookup that also tells how the cache answered, for a
// caller that reports hits itself (e.g. as an attribute of its span).
func (c *Cache) LookupResult(ctx context.Context, name string, qtype uint16) (resolver.Answer, Result, error) {
	k := key{name: canonicalName(name), qtype: qtype}
	ans, r, err := c.lookup(ctx, k)
	c.tel.record(ctx, k, r)
	return ans, r, err
}

// Peek returns the answer for name and qtype when the cache can give it
// at once (fresh, or stale while an upstream failure is remembered),
// counting it like LookupResult; it never waits or queries. A caller with
// many lookups to make peeks first and spends goroutines only on misses:
// on a warm cache, a plan's lookups then cost no goroutine at all.
func (c *Cache) Peek(ctx context.Context, name string, qtype uint16) (resolver.Answer, Result, bool) {
	if c.closed.Load() {
		return resolver.Answer{}, ResultError, false
	}
	k := key{name: canonicalName(name), qtype: qtype}
	now := c.cfg.Now()
	e, ok := c.get(k, now)
	if !ok {
		return resolver.Answer{}, ResultMiss, false
	}
	var ans resolver.Answer
	var r Result
	switch {
	case e.fresh(now):
		ans, r = e.answerAt(k, now), ResultHit
	case e.failing(now):
		if ans, ok = e.stale(k, now, c.cfg.StaleTTL); !ok {
			return resolver.Answer{}, ResultError, false
		}
		r = ResultStale
	default:
		return resolver.Answer{}, ResultMiss, false
	}
	c.tel.record(ctx, k, r)
	return ans, r, true
}

func (c *Cache) lookup(ctx context.Context, k key) (resolver.Answer, Result, error) {
	// A second pass follows a flight that landed between the first pass's
	// read and its join: its entry may answer without another query.
	for pass := 1; ; pass++ {
		if c.closed.Load() {
			return resolver.Answer{}, ResultError, ErrClosed
		}
		now := c.cfg.Now()
		e, ok := c.get(k, now)
		if ok {
			if e.fresh(now) {
				return e.answerAt(k, now), ResultHit, nil
			}
			if e.failing(now) {
				// The failure recheck timer: no query until it ends.
				if a, ok := e.stale(k, now, c.cfg.StaleTTL); ok {
					return a, ResultStale, nil
				}
				return resolver.Answer{}, ResultError, fmt.Errorf("dns cache: %s failed within the last %v: %w", k, c.cfg.FailureTTL, e.failErr())
			}
		}
		f, changed, err := c.join(ctx, k, e, pass == 1)
		if err != nil {
			return resolver.Answer{}, ResultError, err
		}
		if !changed {
			return c.wait(ctx, k, f, e, now)
		}
	}
}

// fill asks the upstream for k and stores what it learns: the answer, or
// the failure alongside any answer kept for serving stale.
func (c *Cache) fill(ctx context.Context, k key) outcome {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.UpstreamTimeout)
	defer cancel()
	defer context.AfterFunc(c.closing, cancel)()
	ctx, span := c.tel.tracer.Start(ctx, spanFill, trace.WithAttributes(
		attribute.String("dns.question.name", k.name),
		attribute.String("dns.question.type", typeString(k.qtype)),
	))
	defer span.End()

	ans, err := c.up.Lookup(ctx, k.name, k.qtype)
	if err == nil && ans.Rcode != dns.RcodeSuccess && ans.Rcode != dns.RcodeNameError {
		// The upstream contract says failures come as errors; a failure
		// cached as a negative answer would hide a domain for minutes.
		err = fmt.Errorf("upstream answered %s without an error", dns.RcodeToString[ans.Rcode])
	}
	now := c.cfg.Now()
	if err == nil {
		e := newEntry(ans, now, &c.cfg)
		c.set(k, e)
		span.SetAttributes(attribute.String(AttrResult, ResultMiss.String()))
		return outcome{answer: e.answerAt(k, now), result: ResultMiss}
	}

	span.RecordError(err)
	prev, _ := c.get(k, now)
	if c.cfg.FailureTTL > 0 && c.closing.Err() == nil {
		c.set(k, prev.withFailure(err, now, c.cfg.FailureTTL))
	}
	if a, ok := prev.stale(k, now, c.cfg.StaleTTL); ok {
		span.SetAttributes(attribute.String(AttrResult, ResultStale.String()))
		return outcome{answer: a, result: ResultStale}
	}
	span.SetStatus(codes.Error, "upstream failed, nothing stale to serve")
	return outcome{result: ResultError, err: fmt.Errorf("dns cache: %w", err)}
}

// get returns k's entry from otter, else from the recent tier; an entry
// found only there is stored in otter again, which then counts it as used
// twice (see RecentShare).
func (c *Cache) get(k key, now time.Time) (*entry, bool) {
	if e, ok := c.entries.GetIfPresent(k); ok {
		return e, true
	}
	e, ok := c.recent.get(k, now)
	if ok {
		c.entries.Set(k, e)
	}
	return e, ok
}

// set stores e in otter, which may refuse it, and in the recent tier.
func (c *Cache) set(k key, e *entry) {
	c.entries.Set(k, e)
	c.recent.put(k, e)
}

// Len returns the number of entries held in otter, stale ones included
// (the recent tier mostly holds the same ones). It is an estimate:
// evictions are applied in batches.
func (c *Cache) Len() int { return c.entries.EstimatedSize() }

// canonicalName is dns.CanonicalName with a fast path for names already
// in lower case, as the planner's usually are (strings.Map showed up as
// about a tenth of a hit in a CPU profile).
func canonicalName(name string) string {
	for i := range len(name) {
		if 'A' <= name[i] && name[i] <= 'Z' {
			return dns.CanonicalName(name)
		}
	}
	return dns.Fqdn(name)
}

// nowClock adapts a time.Now-like function to otter's clock.
type nowClock func() time.Time

func (f nowClock) NowNano() int64 { return f().UnixNano() }

// Tick returns nil: no periodic clean-up with a test clock, whose time
// does not pass by itself anyway.
func (nowClock) Tick(time.Duration) <-chan time.Time { return nil }
