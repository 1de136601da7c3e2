package feedback

import (
	"context"
	"sync"
	"time"
)

// Submits apply their reports by group commit: each pushes its reports
// into the buffer, then either finds them sent by a call another Submit
// made, or takes the applier and sends everything buffered itself. While
// one call is out, the reports of every Submit arriving meanwhile gather
// in the buffer and go to the store together, one script call per
// address; with several Submits waiting, calls are also spaced by
// Options.CoalesceWindow. Store cost then follows addresses per window,
// not reports per second, and a lone sender waits for nothing but its own
// call.

// rounds lets waiters sleep until the end of the next store call from the
// buffer, whoever made it.
type rounds struct {
	mu    sync.Mutex
	ended chan struct{} // closed at the end of the current call; nil until asked for
	start time.Time     // when the last call started (wall clock, for pacing)
}

// next returns a channel closed when the next call (or the one under way)
// ends.
func (r *rounds) next() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended == nil {
		r.ended = make(chan struct{})
	}
	return r.ended
}

// begin records a call's start and returns when the previous one started.
func (r *rounds) begin(now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.start
	r.start = now
	return prev
}

// end wakes everyone waiting for the end of a call.
func (r *rounds) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended != nil {
		close(r.ended)
		r.ended = nil
	}
}

// commit waits until the buffer has sent everything up to mark to the
// store, sending it itself when no one else is. It reports whether that
// happened; when it did not (the store failed, or it took longer than a
// store call should), the reports stay buffered and Run replays them.
func (s *Service) commit(ctx context.Context, mark uint64) bool {
	s.committing.Add(1)
	s.joined.Add(1)
	defer s.committing.Add(-1)
	// As long as a full call may take, and the window before it: under
	// load a sender waits for the store rather than filling the buffer.
	wait := s.callTimeout(replayBatch) + s.opts.CoalesceWindow
	deadline := time.Now().Add(wait)
	limit := time.NewTimer(wait)
	defer limit.Stop()
	for {
		ended := s.rounds.next()
		if s.buf.doneThrough(mark) {
			return true
		}
		if time.Now().After(deadline) {
			// select picks at random among ready cases: without this, a
			// Submit past its limit could still start another call.
			s.wake()
			return false
		}
		if s.retrying.Load() {
			s.wake() // Run retries, with backoff, behind the reports already waiting
			return false
		}
		select {
		case s.applier <- struct{}{}:
			done, late := s.buf.doneThrough(mark), false
			if !done {
				late = s.pace(limit.C)
				_, err := s.applyFront(ctx)
				done = err == nil && s.buf.doneThrough(mark)
			}
			<-s.applier
			if done || late {
				return done
			}
		case <-ended:
		case <-limit.C:
			s.wake()
			return false
		case <-ctx.Done():
			s.wake()
			return false
		}
	}
}

// coalesceStep is how long pace waits for more reports at a time.
const coalesceStep = 250 * time.Microsecond

// pace holds the next call while other Submits are waiting and more keep
// joining, until CoalesceWindow after the previous call started: their
// reports then join this call. It goes as soon as a step brings no new
// Submit (every sender is waiting: holding on would only idle), and at
// once for a lone sender. It reports whether limit fired meanwhile.
func (s *Service) pace(limit <-chan time.Time) (late bool) {
	if s.committing.Load() < 2 {
		return false
	}
	s.rounds.mu.Lock()
	end := s.rounds.start.Add(s.opts.CoalesceWindow)
	s.rounds.mu.Unlock()
	last := s.joined.Load()
	for wait := time.Until(end); wait > 0; wait = time.Until(end) {
		t := time.NewTimer(min(wait, coalesceStep))
		select {
		case <-t.C:
		case <-limit:
			t.Stop()
			return true
		}
		now := s.joined.Load()
		if now == last {
			return false
		}
		last = now
	}
	return false
}
