// Package events fans the health view's transitions out to live streams
// (the Server-Sent Events of GET /events) and keeps the most recent ones
// for GET /transitions.
//
// The feed must never wait for a stream: the hub is called from the
// request that caused a demotion and from the pub/sub loop that keeps the
// routing view current. So each stream gets a bounded queue, and a stream
// whose queue is full is dropped (its client reconnects with Last-Event-ID
// and catches up from the recent ring) rather than slowing the feed. The
// number of streams is bounded too, so that clients cannot hold an
// unbounded number of goroutines and queues, and so is each client's
// share of them, so that one client cannot take every stream. A stream
// also ends after a lifetime, so that a client that holds its streams
// forever still gives them back, and streams move to new replicas after a
// scale-up; the client reconnects with Last-Event-ID and misses nothing
// the ring still holds.
//
// Transitions arrive more than once: a shared store pushes a replica's own
// transitions back to it. The hub drops a transition identical to one still
// in its recent ring (same address, kind, states and times to the
// millisecond, the precision of the pushes).
package events

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mxroute/mxroute/internal/feedback"
)

// Defaults, also the flag defaults of cmd/mxroute.
const (
	// DefaultMaxStreams bounds concurrent streams: a handful of consoles
	// and scripts per replica, with room to spare.
	DefaultMaxStreams = 64
	// DefaultMaxClientStreams bounds one client's concurrent streams: a
	// person with a few console tabs open, well under DefaultMaxStreams.
	DefaultMaxClientStreams = 4
	// DefaultLifetime is how long a stream lives at most: long enough that
	// the reconnect is rare, short enough that a stuck client's stream and
	// a replica's share of streams after a scale-up do not last a day.
	DefaultLifetime = time.Hour
	// DefaultQueue is how many events a stream may fall behind before it
	// is dropped: a demotion wave of the whole budget fits with room.
	DefaultQueue = 256
	// DefaultRecent is how many transitions the ring keeps for
	// GET /transitions and for streams resuming with Last-Event-ID.
	DefaultRecent = 1024
)

// ErrTooManyStreams is returned by Subscribe at the MaxStreams bound.
var ErrTooManyStreams = errors.New("too many event streams")

// ErrTooManyClientStreams is returned by Subscribe when the client holds
// MaxClientStreams streams already.
var ErrTooManyClientStreams = errors.New("too many event streams for this client")

// ErrClosed is returned by Subscribe after Close (the server is stopping).
var ErrClosed = errors.New("event hub closed")

// Event is one transition with its sequence number on this replica.
type Event struct {
	ID uint64
	feedback.Transition
}

// Options configures a Hub; zero values mean the defaults above.
type Options struct {
	MaxStreams int
	// MaxClientStreams bounds the streams of one client, as named by
	// Subscribe's caller.
	MaxClientStreams int
	// Lifetime is a stream's longest life. Each stream ends up to a tenth
	// earlier, at random, so that streams opened together (the consoles
	// reconnecting after a deploy) do not all reconnect together again.
	Lifetime time.Duration
	Queue    int
	Recent   int
}

// Hub distributes transitions. The zero value is not usable; use New.
type Hub struct {
	opts Options

	mu     sync.Mutex
	closed bool
	seq    uint64
	subs   map[*Stream]struct{}
	per    map[string]int // open streams by client
	ring   []Event        // oldest first, at most opts.Recent
	keys   map[dedupeKey]int
	drops  uint64
}

type dedupeKey struct {
	addr         netip.Addr
	kind         feedback.TransitionKind
	from, to     feedback.State
	at, until    int64
	reportersLen int
}

// Stream is one subscriber. Events arrive on C, which is closed when the
// stream is dropped for falling behind, unsubscribed, or the hub closes;
// Dropped then tells which.
type Stream struct {
	ch      chan Event
	start   uint64
	client  string
	expiry  *time.Timer
	dropped bool // guarded by the hub's mu
}

// C is the stream's queue.
func (s *Stream) C() <-chan Event { return s.ch }

// Start is the id of the last event before the stream opened (0: none
// yet). A client that has seen no event resumes from it after the stream
// ends, so that what happened while it reconnected reaches it.
func (s *Stream) Start() uint64 { return s.start }

// New returns a Hub.
func New(o Options) *Hub {
	if o.MaxStreams <= 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	if o.MaxClientStreams <= 0 {
		o.MaxClientStreams = DefaultMaxClientStreams
	}
	if o.Lifetime <= 0 {
		o.Lifetime = DefaultLifetime
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Recent <= 0 {
		o.Recent = DefaultRecent
	}
	return &Hub{opts: o, subs: map[*Stream]struct{}{}, per: map[string]int{}, keys: map[dedupeKey]int{}}
}

func keyOf(t feedback.Transition) dedupeKey {
	k := dedupeKey{addr: t.Address, kind: t.Kind, from: t.From, to: t.To, at: t.At.UnixMilli(), reportersLen: len(t.Reporters)}
	if !t.Until.IsZero() {
		k.until = t.Until.UnixMilli()
	}
	return k
}

// Publish records t and queues it to every stream without waiting; a
// stream with a full queue is dropped. Safe for concurrent use; it is
// meant to be feedback.Options.OnTransition.
func (h *Hub) Publish(t feedback.Transition) {
	// Times at the precision of the pushes, so that a replica's own
	// transition and its echo compare equal and read the same.
	t.At = time.UnixMilli(t.At.UnixMilli())
	if !t.Until.IsZero() {
		t.Until = time.UnixMilli(t.Until.UnixMilli())
	}
	k := keyOf(t)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keys[k] > 0 {
		return
	}
	h.seq++
	ev := Event{ID: h.seq, Transition: t}
	if len(h.ring) == h.opts.Recent {
		old := keyOf(h.ring[0].Transition)
		if h.keys[old]--; h.keys[old] <= 0 {
			delete(h.keys, old)
		}
		h.ring = slices.Delete(h.ring, 0, 1)
	}
	h.ring = append(h.ring, ev)
	h.keys[k]++
	for s := range h.subs {
		select {
		case s.ch <- ev:
		default:
			s.dropped = true
			h.drops++
			h.remove(s)
		}
	}
}

// Subscribe opens a stream for client, which names the caller for the
// per-client bound. With resume, after is the last event id the client
// saw (as the stream's Start, 0 when it saw none): the recent events after
// it are queued first, as far as the ring and the queue hold them. The
// stream ends by itself after the lifetime.
func (h *Hub) Subscribe(client string, after uint64, resume bool) (*Stream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, ErrClosed
	case h.per[client] >= h.opts.MaxClientStreams:
		return nil, ErrTooManyClientStreams
	case len(h.subs) >= h.opts.MaxStreams:
		return nil, ErrTooManyStreams
	}
	s := &Stream{ch: make(chan Event, h.opts.Queue), start: h.seq, client: client}
	if resume {
		for _, ev := range h.ring {
			if ev.ID > after && len(s.ch) < cap(s.ch) {
				s.ch <- ev
			}
		}
	}
	h.subs[s] = struct{}{}
	h.per[client]++
	life := h.opts.Lifetime - rand.N(h.opts.Lifetime/10+1)
	s.expiry = time.AfterFunc(life, func() { h.Unsubscribe(s) })
	return s, nil
}

// Unsubscribe ends s; calling it again, or after s was dropped, does
// nothing.
func (h *Hub) Unsubscribe(s *Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(s)
}

// remove ends s if it is open, with h.mu held.
func (h *Hub) remove(s *Stream) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	if h.per[s.client]--; h.per[s.client] <= 0 {
		delete(h.per, s.client)
	}
	s.expiry.Stop()
	close(s.ch)
}

// Dropped reports whether s was dropped for falling behind.
func (h *Hub) Dropped(s *Stream) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return s.dropped
}

// Close ends every stream and refuses new ones, so that a server's
// graceful shutdown is not held up by streams that never end.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.remove(s)
	}
}

// Stats are the hub's counters, for metrics and tests.
type Stats struct {
	Streams int
	Dropped uint64
}

// Stats returns the number of open streams and of streams dropped so far.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Streams: len(h.subs), Dropped: h.drops}
}

// Recent returns up to limit of the most recent events, oldest first,
// only those about addr when addr is valid.
func (h *Hub) Recent(addr netip.Addr, limit int) []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Event
	for i := len(h.ring) - 1; i >= 0 && len(out) < limit; i-- {
		if !addr.IsValid() || h.ring[i].Address == addr {
			out = append(out, h.ring[i])
		}
	}
	slices.Reverse(out)
	return out
}
