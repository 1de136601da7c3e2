package feedback

import (
	"net/netip"

	"github.com/google/btree"
)

// liveCount counts the addresses whose time is after a horizon that only
// moves forward (the budget's: demotions not yet over, confirmations
// within the budget window), at O(log n) per change instead of a visit of
// every address per count. Times at or before the horizon are dropped as
// the count passes them; the store's own maps stay the record (a clock
// that went back would not bring a dropped one back into the count).
type liveCount struct {
	at   map[netip.Addr]int64
	tree *btree.BTreeG[timedAddr]
}

type timedAddr struct {
	t    int64
	addr netip.Addr
}

func timedLess(a, b timedAddr) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	return a.addr.Less(b.addr)
}

func newLiveCount() *liveCount {
	return &liveCount{at: map[netip.Addr]int64{}, tree: btree.NewG(32, timedLess)}
}

// set records addr's time; 0 removes it.
func (c *liveCount) set(addr netip.Addr, t int64) {
	if old, ok := c.at[addr]; ok {
		if old == t {
			return
		}
		c.tree.Delete(timedAddr{old, addr})
		delete(c.at, addr)
	}
	if t != 0 {
		c.at[addr] = t
		c.tree.ReplaceOrInsert(timedAddr{t, addr})
	}
}

// after returns how many addresses have a time after horizon.
func (c *liveCount) after(horizon int64) int {
	for {
		min, ok := c.tree.Min()
		if !ok || min.t > horizon {
			return c.tree.Len()
		}
		c.tree.DeleteMin()
		delete(c.at, min.addr)
	}
}
