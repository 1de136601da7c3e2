package feedback

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// healthView is the replica-local copy of the non-healthy addresses that
// StateOf reads. Readers load an immutable map through an atomic pointer
// (no lock, no I/O on the routing path); writers serialise on a mutex and
// publish a fresh copy. Copying is cheap because the map only ever holds
// non-healthy addresses, which the budget keeps few.
type healthView struct {
	mu  sync.Mutex
	cur atomic.Pointer[viewSnap]
}

type viewSnap struct {
	entries map[netip.Addr]viewEntry
	// synced is the time of the last successful resync (zero before the
	// first); a view that is not resynced for a while is not trusted.
	synced time.Time
}

type viewEntry struct {
	state State // StateHealthy marks a tombstone: a pushed end newer than the last resync
	until time.Time
	// pushed is when a push or one of our own transitions wrote the entry;
	// zero for entries from a resync.
	pushed time.Time
}

func newHealthView() *healthView {
	h := &healthView{}
	h.cur.Store(&viewSnap{entries: map[netip.Addr]viewEntry{}})
	return h
}

func (h *healthView) load() *viewSnap { return h.cur.Load() }

// stateAt is the state of addr at now; demotions and drains end by the
// clock even if no push or resync says so.
func (v *viewSnap) stateAt(addr netip.Addr, now time.Time) State {
	e, ok := v.entries[addr]
	if !ok || e.state == StateHealthy || !now.Before(e.until) {
		return StateHealthy
	}
	return e.state
}

// counts returns how many addresses are demoted and drained at now.
func (v *viewSnap) counts(now time.Time) (demoted, drained int) {
	for _, e := range v.entries {
		if e.state == StateHealthy || !now.Before(e.until) {
			continue
		}
		if e.state == StateDemoted {
			demoted++
		} else {
			drained++
		}
	}
	return demoted, drained
}

// apply records transitions (our own, or pushed by another replica).
func (h *healthView) apply(trans []Transition, now time.Time) {
	if len(trans) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.cur.Load()
	next := &viewSnap{entries: make(map[netip.Addr]viewEntry, len(old.entries)+len(trans)), synced: old.synced}
	for a, e := range old.entries {
		next.entries[a] = e
	}
	for _, t := range trans {
		next.entries[t.Address] = viewEntry{state: t.To, until: t.Until, pushed: now}
	}
	h.cur.Store(next)
}

// replace installs a resync's result. started is when the read began:
// entries pushed since then are newer than what the read saw and are kept
// over it; older pushes (and their tombstones) are superseded.
func (h *healthView) replace(nonHealthy map[netip.Addr]ViewEntry, started, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.cur.Load()
	next := &viewSnap{entries: make(map[netip.Addr]viewEntry, len(nonHealthy)), synced: now}
	for a, e := range nonHealthy {
		next.entries[a] = viewEntry{state: e.State, until: e.Until}
	}
	for a, e := range old.entries {
		if !e.pushed.IsZero() && !e.pushed.Before(started) {
			next.entries[a] = e
		}
	}
	h.cur.Store(next)
}
