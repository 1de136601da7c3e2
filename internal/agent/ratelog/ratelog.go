// Package ratelog logs a recurring condition once per interval with a count
// of how often it happened since, so a dead mxroute under a busy MTA costs
// one log line a minute rather than one per message.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how often a recurring condition is logged.
const DefaultInterval = time.Minute

// Limiter logs one message per key and interval.
type Limiter struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	last       time.Time
	suppressed int
}

// New returns a Limiter; now may be nil (time.Now).
func New(log *slog.Logger, interval time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Limiter{log: log, interval: interval, now: now, keys: map[string]*entry{}}
}

// Warn logs msg with args under key unless key was logged less than an
// interval ago; it reports whether it logged. The logged record carries
// "suppressed", the number of calls swallowed since the last one.
func (l *Limiter) Warn(ctx context.Context, key, msg string, args ...any) bool {
	l.mu.Lock()
	e := l.keys[key]
	if e == nil {
		e = &entry{}
		l.keys[key] = e
	}
	t := l.now()
	if !e.last.IsZero() && t.Sub(e.last) < l.interval {
		e.suppressed++
		l.mu.Unlock()
		return false
	}
	n := e.suppressed
	e.last, e.suppressed = t, 0
	l.mu.Unlock()
	l.log.WarnContext(ctx, msg, append(args, "suppressed", n)...)
	return true
}
