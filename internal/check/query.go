package check

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute/mxroute/internal/resolver"
)

// querier wraps the Resolver for one Run: it bounds the queries in flight
// and makes each (name, type) lookup once, because the same names come up
// again (a PTR name is usually an MX target, NS hosts share addresses).
type querier struct {
	r   Resolver
	sem chan struct{}

	mu    sync.Mutex
	calls map[queryKey]*queryCall
}

type queryKey struct {
	name  string
	qtype uint16
}

type queryCall struct {
	done chan struct{}
	// ans, err and abandoned are written before done is closed.
	ans resolver.Answer
	err error
	// abandoned marks an outcome cut short by the caller's context, which
	// later callers must not take for an answer.
	abandoned bool
}

func newQuerier(r Resolver, concurrency int) *querier {
	return &querier{r: r, sem: make(chan struct{}, max(concurrency, 1)), calls: map[queryKey]*queryCall{}}
}

// lookup is Resolver.Lookup, made once per Run. Callers asking while the
// first one waits share its outcome; but an outcome cut short by the first
// caller's own deadline is not shared, since phases have different budgets
// (the consistency check may ask first for an NS host that is also an MX
// target, with less time left): the next caller asks again.
func (q *querier) lookup(ctx context.Context, name string, qtype uint16) (resolver.Answer, error) {
	key := queryKey{dns.CanonicalName(name), qtype}
	for {
		q.mu.Lock()
		c, shared := q.calls[key]
		if !shared {
			c = &queryCall{done: make(chan struct{})}
			q.calls[key] = c
		}
		q.mu.Unlock()
		if !shared {
			return q.do(ctx, key, c)
		}
		select {
		case <-c.done:
			if !c.abandoned {
				return c.ans, c.err
			}
		case <-ctx.Done():
			return resolver.Answer{}, fmt.Errorf("lookup %s %s: %w", dns.Type(qtype), name, ctx.Err())
		}
	}
}

// do makes the lookup for c, the call that owns key.
func (q *querier) do(ctx context.Context, key queryKey, c *queryCall) (resolver.Answer, error) {
	defer close(c.done)
	if err := q.acquire(ctx); err != nil {
		c.err = fmt.Errorf("lookup %s %s: %w", dns.Type(key.qtype), key.name, err)
	} else {
		c.ans, c.err = q.r.Lookup(ctx, key.name, key.qtype)
		q.release()
	}
	if c.err != nil && cutShort(ctx, c.err) {
		c.abandoned = true
		q.mu.Lock()
		delete(q.calls, key)
		q.mu.Unlock()
	}
	return c.ans, c.err
}

// cutShort reports whether err came from a deadline rather than from DNS.
// The resolver may see the deadline through its socket a moment before ctx
// reports it, so the deadline itself is checked too.
func cutShort(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// exchange is Resolver.Exchange under the concurrency bound.
func (q *querier) exchange(ctx context.Context, server string, m *dns.Msg) (*dns.Msg, error) {
	if err := q.acquire(ctx); err != nil {
		return nil, fmt.Errorf("query %s: %w", server, err)
	}
	defer q.release()
	return q.r.Exchange(ctx, server, m)
}

func (q *querier) acquire(ctx context.Context) error {
	select {
	case q.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *querier) release() { <-q.sem }

// outcome classifies a lookup's result for grading. The detail names the
// class of failure and nothing else: the error's text would name the
// resolver's socket address, which a report must not carry.
func outcome(ans resolver.Answer, err error) Lookup {
	switch {
	case err == nil && ans.NXDomain():
		return Lookup{Outcome: OutcomeNXDomain}
	case err == nil:
		return Lookup{Outcome: OutcomeOK}
	case errors.Is(err, resolver.ErrServFail):
		return Lookup{Outcome: OutcomeServFail}
	case errors.Is(err, resolver.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return Lookup{Outcome: OutcomeTimeout}
	case errors.Is(err, resolver.ErrRefused):
		return Lookup{Outcome: OutcomeFailed, Detail: "the resolver refused the query"}
	case errors.Is(err, resolver.ErrCNAMELoop):
		return Lookup{Outcome: OutcomeFailed, Detail: "CNAME chain too long or looping"}
	case errors.Is(err, resolver.ErrBadResponse):
		return Lookup{Outcome: OutcomeFailed, Detail: "unusable reply"}
	case errors.Is(err, resolver.ErrInvalidName):
		return Lookup{Outcome: OutcomeFailed, Detail: "invalid name"}
	default:
		return Lookup{Outcome: OutcomeFailed, Detail: "no answer"}
	}
}
