package feedback

import "sync"

// ring is the bounded FIFO of observations waiting for the store. When it
// is full the oldest observation is dropped: the newest reports say the
// most about hosts now, and a bounded buffer keeps a long outage from
// exhausting memory.
type ring struct {
	mu      sync.Mutex
	buf     []Observation
	head, n int
	first   int64 // sequence number of the front observation
	dropped uint64
}

func newRing(size int) *ring { return &ring{buf: make([]Observation, size)} }

// Len is the number of buffered observations.
func (r *ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Dropped is the number of observations dropped since the start.
func (r *ring) Dropped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// push appends obs at the back and returns how many old ones it dropped.
func (r *ring) push(obs []Observation) (dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range obs {
		if r.n == len(r.buf) {
			r.buf[r.head] = Observation{}
			r.head = (r.head + 1) % len(r.buf)
			r.n--
			r.first++
			dropped++
		}
		r.buf[(r.head+r.n)%len(r.buf)] = o
		r.n++
	}
	r.dropped += uint64(dropped)
	return dropped
}

// pushFront puts obs back at the front, in order (a partly failed replay).
// If that overflows, what falls off is the oldest, i.e. obs's own head.
func (r *ring) pushFront(obs []Observation) (dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(obs) - 1; i >= 0; i-- {
		if r.n == len(r.buf) {
			dropped += i + 1
			break
		}
		r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
		r.buf[r.head] = obs[i]
		r.n++
		r.first--
	}
	r.dropped += uint64(dropped)
	return dropped
}

// peek copies up to max observations from the front without removing them,
// and returns the sequence number of the first, for pop.
func (r *ring) peek(max int) ([]Observation, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(max, r.n)
	out := make([]Observation, n)
	for i := range n {
		out[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	return out, r.first
}

// pop removes the n observations a peek returned from seq on; those that a
// concurrent push already dropped off the front are not removed twice.
func (r *ring) pop(seq int64, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := seq + int64(n)
	if end <= r.first {
		return
	}
	n = int(min(end-r.first, int64(r.n)))
	r.first += int64(n)
	for i := range n {
		r.buf[(r.head+i)%len(r.buf)] = Observation{}
	}
	r.head = (r.head + n) % len(r.buf)
	r.n -= n
}
