package feedback

import "sync"

// ring is the bounded FIFO of observations waiting for the store. When it
// is full the oldest observation is dropped: the newest reports say the
// most about hosts now, and a bounded buffer keeps a long outage from
// exhausting memory. While a store call carries the front, the newest is
// dropped instead: a report must not be both applied and spooled. Its storage grows on demand up to the bound, so a
// Service that never buffers does not hold 100,000 empty slots.
//
// The observations of one batch (BatchID) sit next to each other: push
// and pushFront take one batch, or whole batches in order, and nothing
// else is ever inserted. peek relies on it to hand out whole batches.
//
// push stamps each observation's Seq, increasing; pushFront only puts
// back what peek handed out. So the ring is always in Seq order, which is
// the order a store must see each address's observations in (its
// watermark skips anything at or below the highest Seq it applied).
type ring struct {
	mu      sync.Mutex
	limit   int
	buf     []Observation
	head, n int
	first   int64  // position of the front observation, for peek and pop
	stamp   uint64 // the last Seq stamped
	dropped uint64
	// inflight is how many front observations a peek handed out and no
	// pop has removed yet: a store call carries them, so an overflow
	// must not drop them (they would be both applied and spooled).
	inflight int
	// closed is set by takeAll (shutdown): whatever is pushed after it is
	// handed back as dropped, for the spool or the lost count.
	closed bool
}

func newRing(limit int) *ring { return &ring{limit: limit} }

// growLocked makes room for one more observation if the bound allows.
func (r *ring) growLocked() {
	if r.n < len(r.buf) || len(r.buf) >= r.limit {
		return
	}
	next := make([]Observation, min(max(2*len(r.buf), 64), r.limit))
	for i := range r.n {
		next[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = next, 0
}

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

// push stamps obs with the next Seqs and appends them at the back. It
// returns the last Seq stamped and the old observations it dropped,
// oldest first.
func (r *ring) push(obs []Observation) (last uint64, dropped []Observation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range obs {
		r.stamp++
		o.Seq = r.stamp
		r.growLocked()
		if r.closed || (r.n == len(r.buf) && r.inflight > 0) {
			// Shut, or the front is on its way to the store: the newest
			// goes instead.
			dropped = append(dropped, o)
			continue
		}
		if r.n == len(r.buf) {
			// The front batch goes whole (unless it is the one being
			// pushed, larger than the ring): a batch's remainder would
			// be skipped by a store that applied its dropped part
			// (spooled and replayed later) on the same address.
			id := r.buf[r.head].BatchID
			for {
				dropped = append(dropped, r.buf[r.head])
				r.buf[r.head] = Observation{}
				r.head = (r.head + 1) % len(r.buf)
				r.n--
				r.first++
				if r.n == 0 || id == "" || id == o.BatchID || r.buf[r.head].BatchID != id {
					break
				}
			}
		}
		r.buf[(r.head+r.n)%len(r.buf)] = o
		r.n++
	}
	r.dropped += uint64(len(dropped))
	return r.stamp, dropped
}

// doneThrough reports whether no observation stamped at or below seq is
// left: applied, or dropped.
func (r *ring) doneThrough(seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n == 0 || r.buf[r.head].Seq > seq
}

// pushFront puts obs back at the front, in order (a partly failed replay).
// If that overflows, what falls off is the oldest, i.e. obs's own head,
// which it returns.
func (r *ring) pushFront(obs []Observation) (dropped []Observation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(obs) - 1; i >= 0; i-- {
		r.growLocked()
		if r.n == len(r.buf) {
			dropped = obs[:i+1]
			break
		}
		r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
		r.buf[r.head] = obs[i]
		r.n++
		r.first--
	}
	r.dropped += uint64(len(dropped))
	return dropped
}

// takeAll empties the ring and returns its observations in order (the
// spool at shutdown), and shuts it: later pushes are handed back as
// dropped.
func (r *ring) takeAll() []Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Observation, r.n)
	for i := range r.n {
		out[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.first += int64(r.n)
	r.buf, r.head, r.n, r.inflight = nil, 0, 0, 0
	r.closed = true
	return out
}

// peek copies about max observations from the front without removing
// them, marks them in flight, and returns the position of the first, for
// pop (or unpeek, when the call failed whole). It never splits a batch: it
// reads on to the end of the batch the max-th observation belongs to, so
// that each call carries whole batches and an Idempotency-Key's claim
// covers all of its batch at once.
func (r *ring) peek(max int) ([]Observation, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(max, r.n)
	for n > 0 && n < r.n && r.at(n).BatchID != "" && r.at(n).BatchID == r.at(n-1).BatchID {
		n++
	}
	out := make([]Observation, n)
	for i := range n {
		out[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.inflight = n
	return out, r.first
}

// isClosed reports whether takeAll shut the ring.
func (r *ring) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// unpeek ends the flight of what peek handed out, leaving it in place: the
// store call failed whole.
func (r *ring) unpeek() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight = 0
}

func (r *ring) at(i int) *Observation { return &r.buf[(r.head+i)%len(r.buf)] }

// pop removes the n observations a peek returned from seq on; those that a
// concurrent push already dropped off the front are not removed twice.
func (r *ring) pop(seq int64, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight = 0
	end := seq + int64(n)
	if end <= r.first {
		return
	}
	n = int(min(end-r.first, int64(r.n)))
	if n == 0 {
		return
	}
	r.first += int64(n)
	for i := range n {
		r.buf[(r.head+i)%len(r.buf)] = Observation{}
	}
	r.head = (r.head + n) % len(r.buf)
	r.n -= n
	if r.n == 0 {
		r.buf, r.head = nil, 0 // an outage's worth of slots is not kept forever
	}
}
