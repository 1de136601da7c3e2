package gather

import (
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/mxroute/mxroute/internal/routing"
)

// The gathered DNS data of a domain is kept for a short while, so that a
// warm plan costs one cache read and routing.Build instead of a DNS cache
// lookup per record set (nine for a domain with four MX hosts, each reading
// the clock and counting a metric). What is kept is the planner's input,
// never its output: Build still runs on every request, with a fresh
// shuffle of equal preferences and the fleet's current health.
//
// An input is kept no longer than the earliest expiry of the answers it was
// built from, so it never says more than the DNS cache itself would; one
// holding a stale answer or a failure is not kept at all, so that the next
// request asks the DNS cache again and sees the upstream recover. The
// store is an otter cache (W-TinyLFU eviction by frequency, expiry per
// entry), not a hand-made map: which busy domains stay is otter's policy.

// defaultMaxInputs is the default Config.MaxInputs: a few thousand
// recipient domains cover the busy ones of most senders, at about a
// kilobyte each; the rest are one DNS cache read per record set away.
const defaultMaxInputs = 4096

type inputKey struct {
	domain string
	family routing.Family
}

// inputEntry is one domain's gathered data, gathered at at and valid
// until until.
type inputEntry struct {
	in    routing.Input
	at    time.Time
	until time.Time
}

type inputCache struct {
	c   *otter.Cache[inputKey, *inputEntry]
	now func() time.Time
}

// newInputCache returns a cache of at most size inputs on the clock now.
// The clock gives otter no ticks, so otter expires entries when they are
// read or written and starts no goroutine: nothing to stop.
func newInputCache(size int, now func() time.Time) (*inputCache, error) {
	ic := &inputCache{now: now}
	c, err := otter.New(&otter.Options[inputKey, *inputEntry]{
		MaximumSize: size,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[inputKey, *inputEntry]) time.Duration {
			// Otter reads a non-positive duration as "keep the previous
			// deadline"; an expired input must go now.
			return max(e.Value.until.Sub(ic.now()), time.Nanosecond)
		}),
		Clock: tickless(now),
	})
	if err != nil {
		return nil, fmt.Errorf("input cache: %w", err)
	}
	ic.c = c
	return ic, nil
}

// get returns the entry for k if it is still valid at now.
func (c *inputCache) get(k inputKey, now time.Time) (*inputEntry, bool) {
	e, ok := c.c.GetIfPresent(k)
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e, true
}

func (c *inputCache) put(k inputKey, e *inputEntry) { c.c.Set(k, e) }

// len is the number of entries held (otter's estimate).
func (c *inputCache) len() int { return c.c.EstimatedSize() }

// tickless adapts a time.Now-like function to otter's clock, without the
// ticks that would start otter's periodic clean-up goroutine.
type tickless func() time.Time

func (f tickless) NowNano() int64 { return f().UnixNano() }

func (tickless) Tick(time.Duration) <-chan time.Time { return nil }
