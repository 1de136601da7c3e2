package cache

import (
	"context"
	"sync"
	"time"
)

// A plan looks names up in rounds, one after the other: the MX, then every
// target's addresses. RFC 8767's client response timer
// (Config.StaleAnswerAfter) belongs to one query; run per lookup, a plan
// whose upstream stops answering would wait it once per round before its
// stale answers came back. A stale budget makes it one timer per plan: the
// first lookup that waits on a refresh with a stale answer to fall back on
// starts it, and once it has fired, every later lookup of the plan that
// has a stale answer gets it at once, leaving its refresh to land in the
// background. Lookups with nothing stale to serve still wait for the
// upstream, bounded by the plan's own deadline.

// staleBudget is one plan's client response timer.
type staleBudget struct {
	once  sync.Once
	timer *time.Timer // set by the first start, read after once
	done  chan struct{}
}

type budgetKey struct{}

// WithStaleBudget returns a context whose lookups share one serve-stale
// timer, and a release function that stops it; call it when the plan is
// built. A context without one gives each lookup its own timer.
func WithStaleBudget(ctx context.Context) (context.Context, func()) {
	b := &staleBudget{done: make(chan struct{})}
	return context.WithValue(ctx, budgetKey{}, b), b.release
}

func budgetFrom(ctx context.Context) *staleBudget {
	b, _ := ctx.Value(budgetKey{}).(*staleBudget)
	return b
}

// start starts the timer with d on the first call, and calls fired when
// it fires; later calls only return the channel closed then.
func (b *staleBudget) start(d time.Duration, fired func()) <-chan struct{} {
	b.once.Do(func() {
		b.timer = time.AfterFunc(d, func() {
			// Counted first, so whoever the close wakes sees it counted.
			fired()
			close(b.done)
		})
	})
	return b.done
}

// spent reports whether the timer has fired.
func (b *staleBudget) spent() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// release stops a timer still running and keeps a later start from
// starting one.
func (b *staleBudget) release() {
	b.once.Do(func() {})
	if b.timer != nil {
		b.timer.Stop()
	}
}
