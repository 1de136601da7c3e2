package feedback

import (
	"net/netip"
	"slices"
)

// This file holds the memory store's side of the address bound: who may
// bring a new address in when the store is full, and which tracked address
// makes room for it. The Redis store follows the same rules in evictSource.

// evictScan bounds the eviction candidates one scan of every address
// keeps, oldest first: a scan costs a visit of every address, so it is
// done once per evictScan evictions, not per eviction.
const evictScan = 256

// evictCandidate is a tracked address that could make room, and its "seen"
// time when the scan found it: if it was reported on since, it is no longer
// among the oldest and is passed over.
type evictCandidate struct {
	addr netip.Addr
	seen int64
}

// quotaUse is one reporter's use of Policy.ReporterNewAddresses in the
// window that started at start.
type quotaUse struct {
	start int64
	n     int
}

// admitLocked reports whether a new address reported on by reporter may be
// added: while there is room, always; at the bound, if the reporter still
// has quota for the window and an evictable address makes room.
func (m *MemoryStore) admitLocked(now int64, p Policy, reporter string) bool {
	if m.roomLocked(now, p) {
		return true
	}
	window := p.BudgetWindow.Milliseconds()
	q := m.quota[reporter]
	if now-q.start >= window {
		q = quotaUse{start: now}
	}
	if q.n >= p.ReporterNewAddresses {
		return false
	}
	victim, ok := m.victimLocked(now, p)
	if !ok {
		return false
	}
	delete(m.addrs, victim)
	m.confirmedLive.set(victim, 0)
	q.n++
	m.quota[reporter] = q
	return true
}

// evictable reports whether a may make room for a new address: not
// demoted or drained, and not confirmed (reported on by as many reporters
// as could demote it) within BudgetWindow. Addresses several reporters
// agree on are kept; those only one reporter speaks of go first.
func (m *MemoryStore) evictable(addr netip.Addr, a memAddr, now int64, p Policy) bool {
	if a.confirmed > now-p.BudgetWindow.Milliseconds() {
		return false
	}
	return m.demoted[addr] <= now && m.drained[addr] <= now
}

// victimLocked picks the evictable address reported on least recently,
// from the candidates of the last scan, scanning again when they are used
// up (at most once per sweepAtLimit when a scan finds none).
func (m *MemoryStore) victimLocked(now int64, p Policy) (netip.Addr, bool) {
	for {
		for len(m.victims) > 0 {
			c := m.victims[0]
			m.victims = m.victims[1:]
			if a, ok := m.addrs[c.addr]; ok && a.seen == c.seen && m.evictable(c.addr, a, now, p) {
				return c.addr, true
			}
		}
		if m.victimScanAt != 0 && now-m.victimScanAt < sweepAtLimit.Milliseconds() && m.victimScanEmpty {
			return netip.Addr{}, false
		}
		m.scanVictimsLocked(now, p)
		if len(m.victims) == 0 {
			return netip.Addr{}, false
		}
	}
}

// scanVictimsLocked collects the evictScan least recently reported
// evictable addresses.
func (m *MemoryStore) scanVictimsLocked(now int64, p Policy) {
	var all []evictCandidate
	for addr, a := range m.addrs {
		if m.evictable(addr, a, now, p) {
			all = append(all, evictCandidate{addr: addr, seen: a.seen})
		}
	}
	slices.SortFunc(all, func(x, y evictCandidate) int {
		if x.seen != y.seen {
			return int(min(max(x.seen-y.seen, -1), 1))
		}
		return x.addr.Compare(y.addr)
	})
	m.victims = all[:min(len(all), evictScan)]
	m.victimScanAt, m.victimScanEmpty = now, len(all) == 0
}

// sweepQuotaLocked forgets the quota windows that ended.
func (m *MemoryStore) sweepQuotaLocked(now int64, p Policy) {
	for r, q := range m.quota {
		if now-q.start >= p.BudgetWindow.Milliseconds() {
			delete(m.quota, r)
		}
	}
}
