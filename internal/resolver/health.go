package resolver

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"
)

// upstream is one configured server and what Lookup has learnt of its
// health. Every field is atomic, so that concurrent lookups update it
// without a lock and Health reads it without stopping them.
//
// The states, at a time now:
//
//   - up: fewer than maxFails consecutive failures. Tried in its
//     configured place.
//   - down: at least maxFails consecutive failures and now before retryAt.
//     Tried only after every up server, so a dead server costs no timeout
//     while another one answers.
//   - due: at least maxFails consecutive failures and retryAt reached. The
//     first lookup to claim the retry tries it in its configured place;
//     concurrent lookups keep treating it as down meanwhile, so a server
//     that is still dead costs one timeout per cool-down, not one per
//     lookup in flight.
//
// A success (NOERROR or NXDOMAIN) makes it up again at once.
type upstream struct {
	addr string
	// conns are the idle connections kept for reuse (see conns.go).
	conns pools
	// fails counts consecutive failures; a success resets it.
	fails atomic.Int64
	// retryAt (Unix nanoseconds) is when a failing server may be tried in
	// its configured place again. Every failure pushes it one cool-down
	// ahead, before fails is incremented, so that a server is never seen
	// failing with a stale retryAt.
	retryAt atomic.Int64
	// last is the latest failure, kept after recovery for Health.
	last atomic.Pointer[failure]
}

type failure struct {
	err error
	at  time.Time
}

type upState int

const (
	stateUp upState = iota
	stateDue
	stateDown
)

// health holds the thresholds that turn an upstream's counters into a
// state, and the clock.
type health struct {
	maxFails int64
	cooldown time.Duration
	now      func() time.Time
}

func (h *health) state(u *upstream, now time.Time) upState {
	switch {
	case u.fails.Load() < h.maxFails:
		return stateUp
	case now.UnixNano() >= u.retryAt.Load():
		return stateDue
	}
	return stateDown
}

// claim takes the retry of a due upstream for one lookup, pushing retryAt
// one cool-down ahead; false when another lookup took it first (or the
// server was not due).
func (h *health) claim(u *upstream, now time.Time) bool {
	at := u.retryAt.Load()
	if now.UnixNano() < at {
		return false
	}
	return u.retryAt.CompareAndSwap(at, now.Add(h.cooldown).UnixNano())
}

// record updates u with the outcome of one query. err is the query's
// error after rcodeError; an error that comes from the lookup's own
// context (cancellation, Budget or caller deadline) says nothing about
// the server and is not counted.
func (h *health) record(u *upstream, err error) {
	switch {
	case err == nil:
		u.fails.Store(0)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
	default:
		now := h.now()
		u.last.Store(&failure{err: err, at: now})
		u.retryAt.Store(now.Add(h.cooldown).UnixNano())
		u.fails.Add(1)
	}
}

// candidate is one server in the order of one query. due marks a server to
// be claimed before it is tried in its configured place.
type candidate struct {
	u   *upstream
	idx int // configured position
	due bool
}

// order splits the servers for one query: front holds the up and due ones,
// back the down ones, each in configured order. When every server is
// down, back holds them all and they are still all tried: a resolver that
// refuses to ask anyone is worse than one that waits.
func (h *health) order(ups []*upstream, now time.Time) (front, back []candidate) {
	front = make([]candidate, 0, len(ups))
	for i, u := range ups {
		switch h.state(u, now) {
		case stateUp:
			front = append(front, candidate{u: u, idx: i})
		case stateDue:
			front = append(front, candidate{u: u, idx: i, due: true})
		default:
			back = append(back, candidate{u: u, idx: i})
		}
	}
	return front, back
}

// deferCandidate puts a due server whose retry another lookup claimed among
// the down ones, keeping them in configured order.
func deferCandidate(back []candidate, c candidate) []candidate {
	c.due = false
	i, _ := slices.BinarySearchFunc(back, c.idx, func(b candidate, idx int) int { return b.idx - idx })
	return slices.Insert(back, i, c)
}

// ServerHealth is what Lookup knows of one configured server, for
// readiness checks and operators.
type ServerHealth struct {
	// Server is the address as configured.
	Server string
	// Failing reports at least Config.MaxFails consecutive failures: the
	// server is tried after the others until a retry succeeds.
	Failing bool
	// ConsecutiveFailures counts failures since the last success.
	ConsecutiveFailures int
	// LastError is the latest failure, nil if there was none. It is kept
	// after the server recovers; LastFailure tells how old it is.
	LastError error
	// LastFailure is when LastError happened (by Config.Now); zero if
	// there was none.
	LastFailure time.Time
}

// Health returns the state of every configured server, in configured
// order. It reads atomics only and is cheap enough for every readiness
// probe.
func (c *Client) Health() []ServerHealth {
	out := make([]ServerHealth, len(c.ups))
	for i, u := range c.ups {
		n := u.fails.Load()
		out[i] = ServerHealth{Server: u.addr, Failing: n >= c.health.maxFails, ConsecutiveFailures: int(n)}
		if f := u.last.Load(); f != nil {
			out[i].LastError, out[i].LastFailure = f.err, f.at
		}
	}
	return out
}
