package feedback

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// MemoryOptions configures a MemoryStore.
type MemoryOptions struct {
	// PruneEvery is how often Apply also sweeps out expired records (Sync
	// always sweeps). Default 1m.
	PruneEvery time.Duration
}

// MemoryStore keeps health records in process memory, for a single
// instance (no MXROUTE_REDIS_URL). One mutex guards everything: a batch is
// applied atomically, exactly like the Redis script does per address, and
// the budget is exact because demotions are counted under the same lock.
type MemoryStore struct {
	pruneEvery time.Duration

	mu        sync.Mutex
	recs      map[netip.Addr]*memRecord
	seen      map[netip.Addr]int64 // latest event time per address, for the budget
	demoted   map[netip.Addr]int64 // index of demoted addresses -> until
	drained   map[netip.Addr]int64 // index of drained addresses -> until
	lastPrune int64
}

type memRecord struct {
	record
	expires int64
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore(opts MemoryOptions) *MemoryStore {
	if opts.PruneEvery <= 0 {
		opts.PruneEvery = time.Minute
	}
	return &MemoryStore{
		pruneEvery: opts.PruneEvery,
		recs:       map[netip.Addr]*memRecord{},
		seen:       map[netip.Addr]int64{},
		demoted:    map[netip.Addr]int64{},
		drained:    map[netip.Addr]int64{},
	}
}

// Kind implements Store.
func (m *MemoryStore) Kind() string { return "memory" }

// Apply implements Store; it never fails.
func (m *MemoryStore) Apply(_ context.Context, b Batch) (Applied, error) {
	now := b.Now.UnixMilli()
	p := b.Policy.params()
	groups := groupByAddress(b, false) // it never applies a batch twice

	m.mu.Lock()
	defer m.mu.Unlock()
	canDemote := func() bool { return !m.budgetExhaustedLocked(now, b.Policy) }
	var out Applied
	for _, g := range groups {
		m.seen[g.addr] = max(m.seen[g.addr], g.seen)
		if len(g.events) == 0 {
			continue
		}
		rec := m.recordLocked(g.addr)
		u := 0.0
		if b.Jitter != nil {
			u = b.Jitter()
		}
		var trans []Transition
		for _, e := range g.events {
			trans = append(trans, rec.observe(e, p, canDemote, u)...)
		}
		m.finishLocked(g.addr, rec, now, p, trans)
		out.Transitions = append(out.Transitions, withAddr(g.addr, trans)...)
	}
	if now-m.lastPrune >= m.pruneEvery.Milliseconds() {
		m.sweepLocked(now, b.Policy)
	}
	out.BudgetExhausted = m.budgetExhaustedLocked(now, b.Policy)
	return out, nil
}

// Sync implements Store.
func (m *MemoryStore) Sync(_ context.Context, now time.Time, p Policy) (Snapshot, error) {
	ms := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := Snapshot{NonHealthy: map[netip.Addr]ViewEntry{}}
	pop := func(index map[netip.Addr]int64, state State, kind TransitionKind) {
		for addr, until := range index {
			if until > ms {
				snap.NonHealthy[addr] = ViewEntry{State: state, Until: time.UnixMilli(until)}
				continue
			}
			delete(index, addr)
			snap.Ended = append(snap.Ended, Transition{Address: addr, Kind: kind, From: state, To: StateHealthy, At: time.UnixMilli(until)})
		}
	}
	pop(m.demoted, StateDemoted, TransitionExpired)
	pop(m.drained, StateDrained, TransitionUndrained)
	slices.SortFunc(snap.Ended, func(a, b Transition) int { return a.Address.Compare(b.Address) })
	m.sweepLocked(ms, p)
	snap.BudgetExhausted = m.budgetExhaustedLocked(ms, p)
	return snap, nil
}

// Host implements Store.
func (m *MemoryStore) Host(_ context.Context, addr netip.Addr, now time.Time, p Policy) (HostStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.recs[addr]
	if !ok {
		return HostStatus{Address: addr, State: StateHealthy}, nil
	}
	return rec.status(addr, now.UnixMilli(), p.params()), nil
}

// Hosts implements Store.
func (m *MemoryStore) Hosts(_ context.Context, state State, now time.Time, p Policy) ([]HostStatus, error) {
	ms, pp := now.UnixMilli(), p.params()
	m.mu.Lock()
	defer m.mu.Unlock()
	var candidates []netip.Addr
	switch state {
	case StateHealthy:
		for addr, t := range m.seen {
			if t > ms-p.BudgetWindow.Milliseconds() {
				candidates = append(candidates, addr)
			}
		}
	case StateDemoted:
		candidates = mapKeys(m.demoted)
	case StateDrained:
		candidates = mapKeys(m.drained)
	default:
		candidates = mapKeys(m.demoted)
		for addr := range m.drained {
			if _, dup := m.demoted[addr]; !dup {
				candidates = append(candidates, addr)
			}
		}
	}
	var out []HostStatus
	for _, addr := range candidates {
		st := HostStatus{Address: addr, State: StateHealthy}
		if rec, ok := m.recs[addr]; ok {
			st = rec.status(addr, ms, pp)
		}
		if st.State == state || (state == "" && st.State != StateHealthy) {
			out = append(out, st)
		}
	}
	return sortStatuses(out), nil
}

// Drain implements Store.
func (m *MemoryStore) Drain(_ context.Context, addr netip.Addr, until time.Time, reason, by string, now time.Time, p Policy) ([]Transition, error) {
	ms := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := m.recordLocked(addr)
	trans := rec.drain(ms, until.UnixMilli(), reason, by)
	m.finishLocked(addr, rec, ms, p.params(), trans)
	return withAddr(addr, trans), nil
}

// Undrain implements Store.
func (m *MemoryStore) Undrain(_ context.Context, addr netip.Addr, now time.Time, p Policy, jitter func() float64) ([]Transition, error) {
	ms := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.recs[addr]
	if !ok {
		return nil, nil
	}
	u := 0.0
	if jitter != nil {
		u = jitter()
	}
	canDemote := func() bool { return !m.budgetExhaustedLocked(ms, p) }
	trans := rec.undrain(ms, p.params(), canDemote, u)
	m.finishLocked(addr, rec, ms, p.params(), trans)
	return withAddr(addr, trans), nil
}

func (m *MemoryStore) recordLocked(addr netip.Addr) *memRecord {
	rec, ok := m.recs[addr]
	if !ok {
		rec = &memRecord{record: *newRecord()}
		m.recs[addr] = rec
	}
	return rec
}

// finishLocked prunes the record, renews its lifetime and keeps the
// indexes in step with the same rules the Redis store follows: an address
// enters an index when it is found demoted or drained and leaves it on an
// explicit end (recovered, undrained, drained over a demotion); a
// demotion or drain that merely runs out stays until Sync pops it, so that
// Sync can report it.
func (m *MemoryStore) finishLocked(addr netip.Addr, rec *memRecord, now int64, p params, trans []Transition) {
	rec.prune(now, p)
	rec.expires = rec.expiresAt(now, p)
	for _, t := range trans {
		switch t.Kind {
		case TransitionRecovered:
			delete(m.demoted, addr)
		case TransitionUndrained:
			delete(m.drained, addr)
		case TransitionDrained:
			delete(m.demoted, addr)
		}
	}
	switch state, until := rec.stateAt(now); state {
	case StateDemoted:
		m.demoted[addr] = until
	case StateDrained:
		m.drained[addr] = until
	}
}

// sweepLocked drops records past their lifetime, "seen" entries older
// than the budget window, and index entries nobody popped for a margin.
func (m *MemoryStore) sweepLocked(now int64, p Policy) {
	m.lastPrune = now
	for addr, rec := range m.recs {
		if rec.expires <= now {
			delete(m.recs, addr)
		}
	}
	horizon := now - p.BudgetWindow.Milliseconds()
	for addr, t := range m.seen {
		if t <= horizon {
			delete(m.seen, addr)
		}
	}
	for _, index := range []map[netip.Addr]int64{m.demoted, m.drained} {
		for addr, until := range index {
			if until+p.KeyMargin.Milliseconds() <= now {
				delete(index, addr)
			}
		}
	}
}

func (m *MemoryStore) budgetExhaustedLocked(now int64, p Policy) bool {
	demoted := 0
	for _, until := range m.demoted {
		if until > now {
			demoted++
		}
	}
	seen := 0
	horizon := now - p.BudgetWindow.Milliseconds()
	for _, t := range m.seen {
		if t > horizon {
			seen++
		}
	}
	return p.budgetExhausted(demoted, seen)
}

func withAddr(addr netip.Addr, trans []Transition) []Transition {
	for i := range trans {
		trans[i].Address = addr
	}
	return trans
}

func mapKeys[V any](m map[netip.Addr]V) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sortStatuses(s []HostStatus) []HostStatus {
	slices.SortFunc(s, func(a, b HostStatus) int { return a.Address.Compare(b.Address) })
	return s
}
