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
// the budget and the address bound are exact because they are counted
// under the same lock.
type MemoryStore struct {
	pruneEvery time.Duration

	mu        sync.Mutex
	addrs     map[netip.Addr]memAddr // every address with state: at most Policy.MaxAddresses, drains aside
	demoted   map[netip.Addr]int64   // index of demoted addresses -> until
	drained   map[netip.Addr]int64   // index of drained addresses -> until
	lastPrune int64

	// The address bound at work (memory_bound.go): each reporter's use of
	// Policy.ReporterNewAddresses, and the eviction candidates of the
	// last scan.
	quota map[string]quotaUse
	// claims maps each Observation.Once seen within IdempotencyWindow to
	// the batch that claimed it.
	claims          map[string]onceClaim
	victims         []evictCandidate
	victimScanAt    int64
	victimScanEmpty bool

	// The budget's terms, kept as addresses change (O(log n) each): the
	// demotions not yet over, and the addresses confirmed within
	// BudgetWindow. Its verdict as last counted is reused for up to
	// budgetReuse in Applied; a demotion always counts afresh, and so do
	// Sync and the first batch after a transition.
	demotedLive   *liveCount
	confirmedLive *liveCount
	budgetAt      int64 // when counted; 0: never, or stale
	budgetValue   bool
}

// memAddr is what the store keeps about one address. It is a map value,
// not a pointer, and the record is allocated only for host signals or a
// drain, so that an address reported on with neutral replies alone costs
// a map slot.
type memAddr struct {
	seen      int64   // latest event time of any report, for Hosts(healthy); 0: none within BudgetWindow
	confirmed int64   // latest event time at which a quorum of reporters was signalling, for the budget; 0: none
	rec       *record // nil: no record
	expires   int64   // end of rec's lifetime
}

// sweepAtLimit is how often Apply sweeps expired addresses out when a new
// address finds the store full, so that expired ones make room without a
// sweep of every address per batch during a flood of new ones.
const sweepAtLimit = time.Second

// budgetReuse is how long Apply reports a counted budget verdict without
// counting again (only for Applied.BudgetExhausted: demotions count
// afresh).
const budgetReuse = time.Second

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore(opts MemoryOptions) *MemoryStore {
	if opts.PruneEvery <= 0 {
		opts.PruneEvery = time.Minute
	}
	return &MemoryStore{
		pruneEvery: opts.PruneEvery,
		addrs:      map[netip.Addr]memAddr{},
		demoted:    map[netip.Addr]int64{},
		drained:    map[netip.Addr]int64{},
		quota:      map[string]quotaUse{},
		claims:     map[string]onceClaim{},

		demotedLive:   newLiveCount(),
		confirmedLive: newLiveCount(),
	}
}

// Kind implements Store.
func (m *MemoryStore) Kind() string { return "memory" }

// Apply implements Store; it never fails.
func (m *MemoryStore) Apply(_ context.Context, b Batch) (Applied, error) {
	now := b.Now.UnixMilli()
	p := b.Policy.params()

	m.mu.Lock()
	defer m.mu.Unlock()
	var out Applied
	b.Observations, out.Duplicates = claimOnce(b.Observations, func(once, batch string) bool { return m.claimLocked(once, batch, now) })
	groups := groupByAddress(b, false) // it never applies a batch twice
	canDemote := func() bool { return !m.budgetLocked(now, b.Policy, true) }
	for _, g := range groups {
		a, ok := m.addrs[g.addr]
		if !ok && !m.admitLocked(now, b.Policy, g.obs[0].Reporter) {
			out.Shed += len(g.obs)
			continue
		}
		a.seen = max(a.seen, g.seen)
		if len(g.events) > 0 {
			if a.rec == nil {
				a.rec = newRecord()
			}
			u := 0.0
			if b.Jitter != nil {
				u = b.Jitter()
			}
			var trans []Transition
			for _, e := range g.events {
				trans = append(trans, a.rec.observe(e, p, canDemote, u)...)
			}
			m.finishLocked(g.addr, &a, now, p, trans)
			if a.rec.signalled(now, p) >= p.quorum {
				a.confirmed = max(a.confirmed, g.seen)
				m.confirmedLive.set(g.addr, a.confirmed)
			}
			out.Transitions = append(out.Transitions, withAddr(g.addr, trans)...)
		}
		m.addrs[g.addr] = a
	}
	if now-m.lastPrune >= m.pruneEvery.Milliseconds() {
		m.sweepLocked(now, b.Policy)
	}
	out.BudgetExhausted = m.budgetLocked(now, b.Policy, false)
	out.AtAddressLimit = len(m.addrs) >= b.Policy.MaxAddresses
	return out, nil
}

// roomLocked reports whether a new address may be added, sweeping out
// expired ones first (at most once per sweepAtLimit) when the store is full.
func (m *MemoryStore) roomLocked(now int64, p Policy) bool {
	if len(m.addrs) < p.MaxAddresses {
		return true
	}
	if now-m.lastPrune >= sweepAtLimit.Milliseconds() {
		m.sweepLocked(now, p)
	}
	return len(m.addrs) < p.MaxAddresses
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
			m.unindexLocked(state, addr)
			snap.Ended = append(snap.Ended, Transition{Address: addr, Kind: kind, From: state, To: StateHealthy, At: time.UnixMilli(until)})
		}
	}
	pop(m.demoted, StateDemoted, TransitionExpired)
	pop(m.drained, StateDrained, TransitionUndrained)
	slices.SortFunc(snap.Ended, func(a, b Transition) int { return a.Address.Compare(b.Address) })
	m.sweepLocked(ms, p)
	snap.BudgetExhausted = m.budgetLocked(ms, p, true)
	snap.AtAddressLimit = len(m.addrs) >= p.MaxAddresses
	return snap, nil
}

// Host implements Store.
func (m *MemoryStore) Host(_ context.Context, addr netip.Addr, now time.Time, p Policy) (HostStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.addrs[addr]
	if a.rec == nil {
		return HostStatus{Address: addr, State: StateHealthy}, nil
	}
	return a.rec.status(addr, now.UnixMilli(), p.params()), nil
}

// Statuses implements Store.
func (m *MemoryStore) Statuses(_ context.Context, addrs []netip.Addr, now time.Time, p Policy) ([]HostStatus, error) {
	ms, pp := now.UnixMilli(), p.params()
	out := make([]HostStatus, len(addrs))
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, addr := range addrs {
		out[i] = HostStatus{Address: addr, State: StateHealthy}
		if rec := m.addrs[addr].rec; rec != nil {
			out[i] = rec.status(addr, ms, pp)
		}
	}
	return out, nil
}

// Hosts implements Store.
func (m *MemoryStore) Hosts(_ context.Context, state State, now time.Time, p Policy) ([]HostStatus, error) {
	ms, pp := now.UnixMilli(), p.params()
	m.mu.Lock()
	defer m.mu.Unlock()
	var candidates []netip.Addr
	switch state {
	case StateHealthy:
		for addr, a := range m.addrs {
			if a.seen > ms-p.BudgetWindow.Milliseconds() {
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
		if rec := m.addrs[addr].rec; rec != nil {
			st = rec.status(addr, ms, pp)
		}
		if st.State == state || (state == "" && st.State != StateHealthy) {
			out = append(out, st)
		}
	}
	return sortStatuses(out), nil
}

// Drain implements Store. An operator's drain is applied even beyond
// Policy.MaxAddresses: drains are few, and authenticated.
func (m *MemoryStore) Drain(_ context.Context, addr netip.Addr, until time.Time, reason, by string, now time.Time, p Policy) ([]Transition, error) {
	ms := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.addrs[addr]
	if a.rec == nil {
		a.rec = newRecord()
	}
	trans := a.rec.drain(ms, until.UnixMilli(), reason, by)
	m.finishLocked(addr, &a, ms, p.params(), trans)
	m.addrs[addr] = a
	return withAddr(addr, trans), nil
}

// Undrain implements Store.
func (m *MemoryStore) Undrain(_ context.Context, addr netip.Addr, now time.Time, p Policy, jitter func() float64) ([]Transition, error) {
	ms := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.addrs[addr]
	if a.rec == nil {
		return nil, nil
	}
	u := 0.0
	if jitter != nil {
		u = jitter()
	}
	canDemote := func() bool { return !m.budgetLocked(ms, p, true) }
	trans := a.rec.undrain(ms, p.params(), canDemote, u)
	m.finishLocked(addr, &a, ms, p.params(), trans)
	m.addrs[addr] = a
	return withAddr(addr, trans), nil
}

// finishLocked prunes the record, renews its lifetime and keeps the
// indexes in step with the same rules the Redis store follows: an address
// enters an index when it is found demoted or drained and leaves it on an
// explicit end (recovered, undrained, drained over a demotion); a
// demotion or drain that merely runs out stays until Sync pops it, so that
// Sync can report it.
func (m *MemoryStore) finishLocked(addr netip.Addr, a *memAddr, now int64, p params, trans []Transition) {
	rec := a.rec
	rec.prune(now, p)
	a.expires = rec.expiresAt(now, p)
	if len(trans) > 0 {
		m.budgetAt = 0
	}
	for _, t := range trans {
		switch t.Kind {
		case TransitionRecovered, TransitionDrained:
			m.unindexLocked(StateDemoted, addr)
		case TransitionUndrained:
			m.unindexLocked(StateDrained, addr)
		}
	}
	switch state, until := rec.stateAt(now); state {
	case StateDemoted:
		m.demoted[addr] = until
		m.demotedLive.set(addr, until)
	case StateDrained:
		m.drained[addr] = until
	}
}

// sweepLocked drops records past their lifetime, "seen" times older than
// the budget window, addresses left with neither, and index entries
// nobody popped for a margin.
func (m *MemoryStore) sweepLocked(now int64, p Policy) {
	m.lastPrune = now
	horizon := now - p.BudgetWindow.Milliseconds()
	for addr, a := range m.addrs {
		changed := false
		if a.rec != nil && a.expires <= now {
			a.rec, a.expires, changed = nil, 0, true
		}
		if a.seen != 0 && a.seen <= horizon {
			a.seen, changed = 0, true
		}
		if a.confirmed != 0 && a.confirmed <= horizon {
			a.confirmed, changed = 0, true
			m.confirmedLive.set(addr, 0)
		}
		switch {
		case a.rec == nil && a.seen == 0:
			delete(m.addrs, addr)
		case changed:
			m.addrs[addr] = a
		}
	}
	m.sweepQuotaLocked(now, p)
	for k, c := range m.claims {
		if c.until <= now {
			delete(m.claims, k)
		}
	}
	for state, index := range map[State]map[netip.Addr]int64{StateDemoted: m.demoted, StateDrained: m.drained} {
		for addr, until := range index {
			if until+p.KeyMargin.Milliseconds() <= now {
				m.unindexLocked(state, addr)
			}
		}
	}
}

// budgetLocked returns the budget's verdict at now: counted afresh when
// fresh is set, else possibly counted up to budgetReuse ago.
func (m *MemoryStore) budgetLocked(now int64, p Policy, fresh bool) bool {
	if !fresh && m.budgetAt != 0 && now >= m.budgetAt && now-m.budgetAt < budgetReuse.Milliseconds() {
		return m.budgetValue
	}
	m.budgetAt, m.budgetValue = now, m.budgetExhaustedLocked(now, p)
	return m.budgetValue
}

// budgetExhaustedLocked counts the budget, exactly, from the live counts.
func (m *MemoryStore) budgetExhaustedLocked(now int64, p Policy) bool {
	demoted := m.demotedLive.after(now)
	confirmed := m.confirmedLive.after(now - p.BudgetWindow.Milliseconds())
	return p.budgetExhausted(demoted, confirmed)
}

// unindexLocked removes addr from the index of state (demoted or
// drained), and a demotion from the budget's count.
func (m *MemoryStore) unindexLocked(state State, addr netip.Addr) {
	if state == StateDemoted {
		delete(m.demoted, addr)
		m.demotedLive.set(addr, 0)
		return
	}
	delete(m.drained, addr)
}

// onceClaim is the batch that took an Idempotency-Key, until when.
type onceClaim struct {
	batch string
	until int64
}

// claimLocked reports whether batch may apply the reports of once: it is
// the first within IdempotencyWindow, or was.
func (m *MemoryStore) claimLocked(once, batch string, now int64) bool {
	if c, ok := m.claims[once]; ok && c.until > now {
		return c.batch == batch
	}
	m.claims[once] = onceClaim{batch: batch, until: now + IdempotencyWindow.Milliseconds()}
	return true
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
