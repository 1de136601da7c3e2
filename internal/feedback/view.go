package feedback

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	iradix "github.com/hashicorp/go-immutable-radix/v2"
)

// healthView is the replica-local copy of the non-healthy addresses that
// StateOf reads and /hosts lists. Readers load an immutable snapshot
// through an atomic pointer (no lock, no I/O on the routing path); writers
// serialise on a mutex and publish the next snapshot.
//
// The snapshot is a persistent radix tree keyed by address (viewKey), so a
// change copies only the nodes on one key's path, whatever the number of
// non-healthy addresses: during a large incident tens of thousands of
// addresses are demoted or drained, and every transition (our own or one
// pushed by another replica) would otherwise copy them all. The tree is
// also ordered by address, which gives /hosts its cursor pagination and
// prefix filter for free. A lookup walks a few nodes instead of hashing
// once; StateOf skips even that while nothing is unhealthy.
type healthView struct {
	mu  sync.Mutex
	cur atomic.Pointer[viewSnap]
	// recent holds the entries written by apply since the last resync
	// began, so that replace can keep them over the resync's older read
	// without scanning the whole tree for them.
	recent map[netip.Addr]viewEntry
}

type viewSnap struct {
	tree *iradix.Tree[viewEntry]
	// synced is the time of the last successful resync (zero before the
	// first); a view that is not resynced for a while is not trusted.
	synced time.Time
	// demoted and drained count the entries in each state, ignoring the
	// clock: an entry that ran out stays counted until the next resync
	// pops it (at most ResyncInterval).
	demoted, drained int
}

type viewEntry struct {
	state State // StateHealthy marks a tombstone: a pushed end newer than the last resync
	until time.Time
	// pushed is when a push or one of our own transitions wrote the entry;
	// zero for entries from a resync.
	pushed time.Time
}

// viewKeyLen fits the family byte and an IPv6 address.
const viewKeyLen = 17

// viewKey encodes addr so that the byte order of keys is the order of
// netip.Addr.Compare: a family byte (IPv4 sorts first), then the address
// bytes. buf is the caller's, so a lookup does not allocate.
func viewKey(buf *[viewKeyLen]byte, addr netip.Addr) []byte {
	if addr.Is4() {
		buf[0] = 4
		a := addr.As4()
		copy(buf[1:], a[:])
		return buf[:5]
	}
	buf[0] = 6
	a := addr.As16()
	copy(buf[1:], a[:])
	return buf[:17]
}

// keyAddr decodes a viewKey.
func keyAddr(k []byte) netip.Addr {
	if len(k) == 5 {
		return netip.AddrFrom4([4]byte(k[1:5]))
	}
	return netip.AddrFrom16([16]byte(k[1:17]))
}

func newHealthView() *healthView {
	h := &healthView{recent: map[netip.Addr]viewEntry{}}
	h.cur.Store(&viewSnap{tree: iradix.New[viewEntry]()})
	return h
}

func (h *healthView) load() *viewSnap { return h.cur.Load() }

// len is the number of entries, tombstones and ran-out ones included.
func (v *viewSnap) len() int { return v.tree.Len() }

// get returns addr's entry.
func (v *viewSnap) get(addr netip.Addr) (viewEntry, bool) {
	var buf [viewKeyLen]byte
	return v.tree.Get(viewKey(&buf, addr))
}

// stateAt is the state of addr at now; demotions and drains end by the
// clock even if no push or resync says so.
func (v *viewSnap) stateAt(addr netip.Addr, now time.Time) State {
	e, ok := v.get(addr)
	if !ok || e.state == StateHealthy || !now.Before(e.until) {
		return StateHealthy
	}
	return e.state
}

// counts returns how many addresses are demoted and drained at now. It
// visits every entry: for metrics, once per collection, not per change.
func (v *viewSnap) counts(now time.Time) (demoted, drained int) {
	v.tree.Root().Walk(func(_ []byte, e viewEntry) bool {
		if e.state == StateHealthy || !now.Before(e.until) {
			return false
		}
		if e.state == StateDemoted {
			demoted++
		} else {
			drained++
		}
		return false
	})
	return demoted, drained
}

// viewItem is one listed entry.
type viewItem struct {
	addr  netip.Addr
	entry viewEntry
}

// list returns up to limit addresses after the address after (or from the
// first, if after is invalid), in address order, inside prefix (if
// valid), whose state at now is state ("" for both non-healthy states).
// It reports whether more may follow. Tombstones and ran-out entries are
// skipped: at most one resync's worth of them.
func (v *viewSnap) list(after netip.Addr, prefix netip.Prefix, state State, now time.Time, limit int) ([]viewItem, bool) {
	it := v.tree.Root().Iterator()
	var buf [viewKeyLen]byte
	switch {
	case after.IsValid() && (!prefix.IsValid() || after.Compare(prefix.Masked().Addr()) >= 0):
		k := viewKey(&buf, after)
		// The next key after k: k with a zero byte appended sorts right
		// after it and before any other key.
		it.SeekLowerBound(append(k, 0))
	case prefix.IsValid():
		it.SeekLowerBound(viewKey(&buf, prefix.Masked().Addr()))
	}
	out := make([]viewItem, 0, min(limit, v.len()))
	for {
		k, e, ok := it.Next()
		if !ok {
			return out, false
		}
		addr := keyAddr(k)
		if prefix.IsValid() && !prefix.Contains(addr) {
			if addr.Compare(prefix.Masked().Addr()) > 0 {
				return out, false // past the prefix: keys are in address order
			}
			continue
		}
		if e.state == StateHealthy || !now.Before(e.until) || (state != "" && e.state != state) {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		out = append(out, viewItem{addr: addr, entry: e})
	}
}

// viewTxn batches changes to a snapshot, keeping its counts.
type viewTxn struct {
	txn  *iradix.Txn[viewEntry]
	next viewSnap
	buf  [viewKeyLen]byte
}

func (v *viewSnap) begin() *viewTxn {
	return &viewTxn{txn: v.tree.Txn(), next: *v}
}

func (t *viewTxn) count(e viewEntry, d int) {
	switch e.state {
	case StateDemoted:
		t.next.demoted += d
	case StateDrained:
		t.next.drained += d
	}
}

func (t *viewTxn) set(addr netip.Addr, e viewEntry) {
	// The tree keeps the key slice it is given: a fresh one per insert.
	var buf [viewKeyLen]byte
	k := viewKey(&buf, addr)
	if old, ok := t.txn.Insert(append([]byte(nil), k...), e); ok {
		t.count(old, -1)
	}
	t.count(e, 1)
}

func (t *viewTxn) del(addr netip.Addr) {
	if old, ok := t.txn.Delete(viewKey(&t.buf, addr)); ok {
		t.count(old, -1)
	}
}

func (t *viewTxn) commit() *viewSnap {
	t.next.tree = t.txn.CommitOnly()
	return &t.next
}

// apply records transitions (our own, or pushed by another replica). It
// costs O(log n) per transition, not a copy of the view.
func (h *healthView) apply(trans []Transition, now time.Time) {
	if len(trans) == 0 {
		return
	}
	h.mu.Lock()
	t := h.cur.Load().begin()
	for _, tr := range trans {
		e := viewEntry{state: tr.To, until: tr.Until, pushed: now}
		t.set(tr.Address, e)
		h.recent[tr.Address] = e
	}
	h.cur.Store(t.commit())
	h.mu.Unlock()
}

// replace installs a resync's result. started is when the read began:
// entries pushed since then are newer than what the read saw and are kept
// over it; older pushes (and their tombstones) are superseded. Only the
// differences are written, so a resync that finds what the pushes already
// told allocates next to nothing; it still reads every entry once.
func (h *healthView) replace(nonHealthy map[netip.Addr]ViewEntry, started, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.cur.Load()
	t := old.begin()
	for a, e := range h.recent {
		if e.pushed.Before(started) {
			delete(h.recent, a)
		}
	}
	for a, e := range nonHealthy {
		if _, newer := h.recent[a]; newer {
			continue
		}
		cur, ok := old.get(a)
		if !ok || cur.state != e.State || !cur.until.Equal(e.Until) || !cur.pushed.IsZero() {
			t.set(a, viewEntry{state: e.State, until: e.Until})
		}
	}
	old.tree.Root().Walk(func(k []byte, _ viewEntry) bool {
		a := keyAddr(k)
		if _, kept := nonHealthy[a]; kept {
			return false
		}
		if _, newer := h.recent[a]; !newer {
			t.del(a)
		}
		return false
	})
	t.next.synced = now
	h.cur.Store(t.commit())
}
